import type { LogLine } from './file-logger.js';

/**
 * The kind of a broker's log line: its level and the message up to the first colon (the part
 * before the quoted error), with numbers replaced by N so that "retrying in 73 ms" and "retrying
 * in 180 ms" are one kind.
 */
export function logKind(line: LogLine): string {
  const colon = line.message.indexOf(': ');
  const head = colon === -1 ? line.message : line.message.slice(0, colon);
  return `${line.level}: ${head.replace(/\d+/g, 'N').slice(0, 160)}`;
}

/** Warnings and errors by kind, most frequent first. */
export function countWarningsAndErrors(lines: readonly LogLine[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) {
    if (line.level === 'log') continue;
    const kind = logKind(line);
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return Object.fromEntries([...counts].toSorted((a, b) => b[1] - a[1]));
}
