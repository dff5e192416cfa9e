import { describe, expect, it } from 'vitest';
import { parseUserIds, UserIdReader } from '../../src/input/user-ids.js';

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

describe('reading user ID lists in chunks', () => {
  /** Reads `bytes` pushed `size` bytes at a time; returns the IDs with their lines and the error, if any. */
  function readInPieces(bytes: Uint8Array, size: number): { ids: string[]; lines: number[]; error: string } {
    const reader = new UserIdReader('tencent', 'f');
    for (let i = 0; i < bytes.length; i += size) reader.push(bytes.subarray(i, i + size));
    reader.end();
    const { userIds, lines } = reader.take();
    let error = '';
    try {
      reader.problems.throwIfAny();
    } catch (err) {
      error = (err as Error).message;
    }
    return { ids: userIds, lines, error };
  }

  it('reads the same IDs whatever the chunk size: a BOM, multi-byte characters and CRLF split across chunks', () => {
    const bytes = Buffer.from('\ufeffé1\r\n日本\r\n\r\nlast', 'utf8');
    const whole = readInPieces(bytes, bytes.length);
    expect(whole.ids).toEqual(['é1', '日本', 'last']);
    expect(whole.lines).toEqual([1, 2, 4]);
    expect(whole.error).toContain('f:3: empty user ID');
    for (const size of [1, 2, 3, 5]) expect(readInPieces(bytes, size)).toEqual(whole);
  });

  it('names the line and offset of invalid UTF-8 whatever the chunks: a lone continuation byte, an overlong form, a surrogate', () => {
    const bytes = Buffer.from([
      ...Buffer.from('ok\na'),
      0x80,
      0x0a,
      ...Buffer.from('b'),
      0xc0,
      0xaf,
      0x0a,
      ...Buffer.from('cc'),
      0xed,
      0xa0,
      0x80,
      0x0a,
    ]);
    for (const size of [1, 4, bytes.length]) {
      const { ids, error } = readInPieces(bytes, size);
      expect(ids).toEqual(['ok']);
      expect(error).toContain('f:2: not valid UTF-8 (byte 2 of the line: 80)');
      expect(error).toContain('f:3: not valid UTF-8 (byte 2 of the line: c0 af)');
      expect(error).toContain('f:4: not valid UTF-8 (byte 3 of the line: ed a0 80)');
    }
  });

  it('does not keep a line longer than 1024 bytes, however it is split, and counts it as one bad line', () => {
    const bytes = Buffer.from(`a\n${'z'.repeat(3000)}\nb\n`);
    for (const size of [7, 1000, bytes.length]) {
      const { ids, error } = readInPieces(bytes, size);
      expect(ids).toEqual(['a', 'b']);
      expect(error).toContain('1 bad line(s) in f');
      expect(error).toContain('f:2: line is 3,000 bytes long');
    }
  });
});
