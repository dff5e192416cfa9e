import { describe, expect, it } from 'vitest';
import { JsonTextError, parseStrictJson } from '../../src/strict-json.js';
import { seededRandom } from '../../src/simulator/seeded-random.js';

function problem(text: string, options = {}): string | undefined {
  try {
    parseStrictJson(text, options);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(JsonTextError);
    return (err as JsonTextError).problem;
  }
}

describe('parseStrictJson', () => {
  it('reads what JSON.parse reads, the same way', () => {
    for (const text of [
      '{}',
      '[]',
      ' \n\t\r{ "a" : [ 1 , -2.5e+3 , 0 , -0 , 1E-2 , true , false , null ] } ',
      '"\\u00e9\\ud83d\\ude00 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t"',
      '{"é":"ü","":"","nested":{"deeper":[{"x":[[]]}]}}',
      '12345678901234567890',
      '"\u{1F600} raw astral"',
    ]) {
      expect(parseStrictJson(text), text).toEqual(JSON.parse(text));
    }
  });

  it('refuses what JSON.parse refuses', () => {
    for (const text of [
      '',
      ' ',
      '{',
      '{"a":1,}',
      '[1,]',
      "{'a':1}",
      '{a:1}',
      '01',
      '1.',
      '.5',
      '+1',
      '-',
      '1e',
      'tru',
      'nul',
      'NaN',
      '"a\nb"',
      '"\\x"',
      '"\\u12"',
      '"open',
      '{} {}',
      '{"a" 1}',
      '[1 2]',
    ]) {
      expect(() => JSON.parse(text) as unknown, text).toThrow();
      expect(problem(text), text).toBe('syntax');
    }
  });

  it('agrees with JSON.parse on what to refuse, over 20,000 random texts', () => {
    const random = seededRandom(13);
    const alphabet = [
      '{',
      '}',
      '[',
      ']',
      '"',
      ':',
      ',',
      ' ',
      '1',
      '0',
      '-',
      '.',
      'e',
      'a',
      '\\',
      'u',
      'n',
      'true',
      'null',
    ];
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const text = Array.from(
        { length: 1 + Math.floor(random() * 12) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join('');
      let plain: unknown;
      let plainOk = true;
      try {
        plain = JSON.parse(text);
      } catch {
        plainOk = false;
      }
      const strict = problem(text);
      // A text JSON.parse takes is refused only for a key given twice.
      if (plainOk && strict === undefined) {
        accepted++;
        expect(parseStrictJson(text), text).toEqual(plain);
      } else if (plainOk) expect(strict, text).toBe('duplicate-key');
      else expect(strict, text).toBe('syntax');
    }
    expect(accepted).toBeGreaterThan(100);
  });

  it('refuses a key given twice in one object, and nesting deeper than maxDepth', () => {
    expect(problem('{"State":"Online","State":"Offline"}')).toBe('duplicate-key');
    expect(problem('{"a":{"k":1},"b":{"k":1}}')).toBeUndefined();
    expect(problem(`${'['.repeat(32)}${']'.repeat(32)}`)).toBeUndefined();
    expect(problem(`${'['.repeat(33)}${']'.repeat(33)}`)).toBe('too-deep');
    expect(problem(`${'{"a":'.repeat(3)}1}}}`, { maxDepth: 2 })).toBe('too-deep');
    expect(problem(`${'['.repeat(1_000_000)}`)).toBe('too-deep');
  });

  it('reads integers of the named keys as bigints, exactly', () => {
    const value = parseStrictJson('{"UserId":9007199254740993,"Other":9007199254740993,"AppId":1.0,"L":[7]}', {
      bigintKeys: new Set(['UserId', 'AppId']),
    });
    expect(value).toEqual({ UserId: 9007199254740993n, Other: 9007199254740992, AppId: 1, L: [7] });
  });

  it('keeps a __proto__ key as data, not as a prototype', () => {
    const value = parseStrictJson('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(problem('{"__proto__":1,"__proto__":2}')).toBe('duplicate-key');
  });

  it('says where the text went wrong', () => {
    expect(() => parseStrictJson('{"a":1,"a":2}')).toThrow(/key "a" given twice in one object at offset 7/);
    expect(() => parseStrictJson('[1,2')).toThrow(/at offset 4/);
  });
});
