import { describe, expect, it } from 'vitest';
import { MAX_QUOTED_CHARS, printable, quote } from '../../../lib/core/quote-input.js';

describe('quote', () => {
  it('quotes a string with its control characters, quotes and backslashes escaped', () => {
    expect(quote('a\u0000b\r\nc\t"d"\\\u007f\u0085\u2028')).toBe('"a\\u0000b\\r\\nc\\t\\"d\\"\\\\\\u007f\\u0085\\u2028"');
  });

  it('keeps at most 200 characters and says how long the input was', () => {
    const quoted = quote('x'.repeat(5000));
    expect(quoted).toBe(`"${'x'.repeat(MAX_QUOTED_CHARS)}"… (5000 chars)`);
  });

  it('never cuts a character in half', () => {
    expect(quote(`${'x'.repeat(199)}😀tail`)).toBe(`"${'x'.repeat(199)}"… (205 chars)`);
  });

  it('writes other values as JSON, or their type when JSON has none', () => {
    expect(quote(42)).toBe('42');
    expect(quote(null)).toBe('null');
    expect(quote({ a: 'b\n' })).toBe('{"a":"b\\n"}');
    expect(quote(undefined)).toBe('undefined');
    expect(quote(Number.NaN)).toBe('NaN');
    expect(quote(10n)).toBe('bigint');
  });
});

describe('printable', () => {
  it('escapes control characters so that a message stays on one line, without quoting it', () => {
    expect(printable('Unexpected token \'o\', "not json\u0000\r\n"... is not valid JSON')).toBe(
      'Unexpected token \'o\', "not json\\u0000\\r\\n"... is not valid JSON',
    );
  });

  it('cuts a long message', () => {
    expect(printable('y'.repeat(3000), 1000)).toBe(`${'y'.repeat(1000)}… (3000 chars)`);
  });
});
