// JSON as a callback body must be to be read at all: RFC 8259 syntax, no key twice in one object
// (JSON.parse keeps the last, a proxy or another reader may keep the first: the same bytes would
// be two different events), and a bounded depth (a body of 64 KiB could otherwise nest 32,000
// levels). Objects come back with no prototype, so no key can reach Object.prototype.

/** Why a text is not acceptable JSON; the message names what and where (a character offset). */
export class StrictJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StrictJsonError';
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// A string token: no raw control characters (matched on purpose), only JSON's escapes.
// eslint-disable-next-line no-control-regex
const STRING = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;

/** Parses `text`; throws StrictJsonError for bad syntax, a duplicate key, or nesting deeper than `maxDepth`. */
export function parseStrictJson(text: string, maxDepth = 10): unknown {
  let at = 0;
  const fail = (what: string): never => {
    throw new StrictJsonError(`${what} at offset ${at}`);
  };
  const space = () => {
    while (at < text.length) {
      const c = text.charCodeAt(at);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      at++;
    }
  };
  const token = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = at;
    const match = pattern.exec(text);
    if (!match) return undefined;
    at += match[0].length;
    return match[0];
  };
  const string = (): string => {
    const raw = token(STRING) ?? fail('bad string');
    return JSON.parse(raw) as string;
  };
  const literal = (word: string, value: unknown): unknown => {
    if (!text.startsWith(word, at)) fail('unexpected character');
    at += word.length;
    return value;
  };
  const value = (depth: number): unknown => {
    space();
    const c = text[at];
    if (c === '{' || c === '[') {
      if (depth >= maxDepth) fail(`nested deeper than ${maxDepth} levels`);
      at++;
      return c === '{' ? object(depth + 1) : array(depth + 1);
    }
    if (c === '"') return string();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    const number = token(NUMBER);
    if (number === undefined) return fail(at >= text.length ? 'unexpected end' : 'unexpected character');
    return Number(number);
  };
  const object = (depth: number): Record<string, unknown> => {
    const out = Object.create(null) as Record<string, unknown>;
    const seen = new Set<string>();
    space();
    if (text[at] === '}') {
      at++;
      return out;
    }
    for (;;) {
      space();
      if (text[at] !== '"') fail('expected a key');
      const key = string();
      if (seen.has(key)) fail(`key ${JSON.stringify(key).slice(0, 40)} appears twice`);
      seen.add(key);
      space();
      if (text[at] !== ':') fail('expected ":"');
      at++;
      out[key] = value(depth);
      space();
      if (text[at] === ',') {
        at++;
        continue;
      }
      if (text[at] === '}') {
        at++;
        return out;
      }
      fail('expected "," or "}"');
    }
  };
  const array = (depth: number): unknown[] => {
    const out: unknown[] = [];
    space();
    if (text[at] === ']') {
      at++;
      return out;
    }
    for (;;) {
      out.push(value(depth));
      space();
      if (text[at] === ',') {
        at++;
        continue;
      }
      if (text[at] === ']') {
        at++;
        return out;
      }
      fail('expected "," or "]"');
    }
  };
  const result = value(0);
  space();
  if (at !== text.length) fail('text after the JSON value');
  return result;
}
