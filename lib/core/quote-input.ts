/** The most characters of a foreign or bad input that a log line or an error message quotes. */
export const MAX_QUOTED_CHARS = 200;

/** The most characters of an error message about a foreign input that a log line carries. */
export const MAX_MESSAGE_CHARS = 1000;

/** C0 and C1 controls, DEL and the Unicode line and paragraph separators: what splits or garbles a log line. */
const CONTROL_CHARACTER = /[\p{Cc}\u2028\u2029]/gu;

const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeControl(character: string): string {
  return SHORT_ESCAPES[character] ?? `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** The first `maxChars` characters of `text`, and what says how long it was when it is cut. */
function cut(text: string, maxChars: number): { kept: string; rest: string } {
  if (text.length <= maxChars) return { kept: text, rest: '' };
  // A cut inside a surrogate pair would leave half a character.
  const end = /[\ud800-\udbff]/.test(text.charAt(maxChars - 1)) ? maxChars - 1 : maxChars;
  return { kept: text.slice(0, end), rest: `… (${text.length} chars)` };
}

/**
 * `text` made safe for one log line: control characters written as escapes (`\n`, `\u0000`), at
 * most `maxChars` of its characters kept, followed by `… (<length> chars)` when cut.
 */
export function printable(text: string, maxChars = MAX_MESSAGE_CHARS): string {
  const { kept, rest } = cut(text, maxChars);
  return kept.replace(CONTROL_CHARACTER, escapeControl) + rest;
}

/**
 * `value` as an error message or a log line quotes it: a string in double quotes, escaped and cut
 * as by `printable` (at `MAX_QUOTED_CHARS`); a number, boolean, null or undefined as written in
 * code; an object as JSON; anything else by its type.
 */
export function quote(value: unknown, maxChars = MAX_QUOTED_CHARS): string {
  if (typeof value === 'string') {
    const { kept, rest } = cut(value, maxChars);
    return `"${kept.replace(/["\\]/g, '\\$&').replace(CONTROL_CHARACTER, escapeControl)}"${rest}`;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (typeof value !== 'object') return typeof value;
  try {
    return printable(JSON.stringify(value), maxChars);
  } catch {
    return 'object';
  }
}
