import { describe, expect, it } from 'vitest';
import { parseUserIds } from '../../src/input/user-ids.js';

describe('parsing user ID lists', () => {
  it('accepts Tencent IDs up to 32 bytes, trimming spaces and CRLF', () => {
    expect(parseUserIds(' alice \r\nbob\n' + 'x'.repeat(32) + '\n', 'tencent', 'f')).toEqual([
      'alice',
      'bob',
      'x'.repeat(32),
    ]);
  });

  it('accepts Volcengine IDs only as decimal int64 in 1..9223372036854775807, naming each bad line', () => {
    expect(parseUserIds('1\n9007199254740993\n9223372036854775807\n', 'volcengine', 'ids.txt')).toEqual([
      '1',
      '9007199254740993',
      '9223372036854775807',
    ]);
    let message = '';
    try {
      parseUserIds('42\n0\n007\n-5\n9223372036854775808\nabc\n1.0\n', 'volcengine', 'ids.txt');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('6 bad line(s) in ids.txt; nothing was imported');
    for (const line of [2, 3, 4, 5, 6, 7]) expect(message).toContain(`ids.txt:${line}: user ID`);
    expect(message).not.toContain('ids.txt:1:');
    expect(message).toContain('a decimal integer in 1..9223372036854775807');
  });

  it('keeps an ID above 2^53 exact as text', () => {
    // 2^53 + 1 is not representable as a JS number: it must never become one.
    expect(parseUserIds('9007199254740993\n', 'volcengine', 'f')[0]).toBe('9007199254740993');
  });

  it('reports at most 20 bad lines and counts the rest', () => {
    const text = Array.from({ length: 25 }, () => '').join('\n') + '\n';
    expect(() => parseUserIds(text, 'tencent', 'f')).toThrow(/and 5 more/);
  });
});
