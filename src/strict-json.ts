// A strict JSON reader for what comes from outside (provider answers, Tencent callbacks). JSON.parse
// is lenient exactly where such a text must not be: it keeps the last of two equal keys
// (`{"State":"Online","State":"Offline"}` silently reads Offline, a Volcengine map naming a user
// twice keeps whichever came last, a callback's To_Account given twice is a second user), it nests
// as deep as the text goes, and it rounds integers above 2^53. This reader refuses a key given twice in one
// object and nesting deeper than `maxDepth`, keeps every key as data (`__proto__` too, as JSON.parse
// does), and reads the integer literals of the named keys as exact bigints. It costs about twice
// JSON.parse (a 500-user Tencent answer with detail: under a millisecond).

/** Why a text is not an answer: not JSON at all, a key given twice, or nested too deep. */
export type JsonTextProblem = 'syntax' | 'duplicate-key' | 'too-deep';

/** Thrown by parseStrictJson. `problem` tells a cut-off body (syntax) from one that is JSON but not an answer. */
export class JsonTextError extends Error {
  constructor(
    readonly problem: JsonTextProblem,
    message: string,
  ) {
    super(message);
    this.name = 'JsonTextError';
  }
}

/** Options of parseStrictJson. */
export interface StrictJsonOptions {
  /** Keys whose integer values are read as bigint (int64 IDs); any other number is a JS number. */
  bigintKeys?: ReadonlySet<string>;
  /** Most nesting of objects and arrays (default 32; the answers nest 5 deep at most). */
  maxDepth?: number;
}

const NO_KEYS: ReadonlySet<string> = new Set();
const ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

// A backslash (an escape to decode) or a control character (which JSON forbids raw in a string).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NEEDS_CARE = /[\u0000-\u001f\\]/;

const LITERALS: readonly (readonly [string, boolean | null])[] = [
  ['true', true],
  ['false', false],
  ['null', null],
];

/** A key or snippet quoted in a message, cut short. */
function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text);
}

class Reader {
  private pos = 0;
  constructor(
    private readonly text: string,
    private readonly bigintKeys: ReadonlySet<string>,
    private readonly maxDepth: number,
  ) {}

  document(): unknown {
    const value = this.value(0, undefined);
    this.space();
    if (this.pos < this.text.length) this.fail('syntax', 'text after the JSON value');
    return value;
  }

  private fail(problem: JsonTextProblem, what: string): never {
    throw new JsonTextError(problem, `${what} at offset ${this.pos}`);
  }

  private space(): void {
    const { text } = this;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.pos++;
    }
  }

  private value(depth: number, key: string | undefined): unknown {
    this.space();
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x7b) return this.object(depth + 1);
    if (c === 0x5b) return this.array(depth + 1);
    if (c === 0x22) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number(key);
    for (const [word, literal] of LITERALS) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return literal;
      }
    }
    this.fail('syntax', this.pos >= this.text.length ? 'unexpected end' : `unexpected ${quote(this.text[this.pos]!)}`);
  }

  private enter(depth: number): void {
    if (depth > this.maxDepth) this.fail('too-deep', `nested more than ${this.maxDepth} deep`);
    this.pos++;
    this.space();
  }

  private object(depth: number): Record<string, unknown> {
    this.enter(depth);
    // A plain object keeps V8's fast shapes (a null-prototype one is a slow dictionary); the one key
    // that would reach the prototype, `__proto__`, is defined as an own property instead.
    const object: Record<string, unknown> = {};
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return object;
    }
    for (;;) {
      this.space();
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('syntax', 'expected a key');
      const keyAt = this.pos;
      const key = this.string();
      if (Object.hasOwn(object, key)) {
        this.pos = keyAt;
        this.fail('duplicate-key', `key ${quote(key)} given twice in one object`);
      }
      this.space();
      if (this.text.charCodeAt(this.pos) !== 0x3a) this.fail('syntax', 'expected ":"');
      this.pos++;
      const value = this.value(depth, key);
      if (key === '__proto__')
        Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
      else object[key] = value;
      this.space();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x7d) return object;
      if (c !== 0x2c) {
        this.pos--;
        this.fail('syntax', 'expected "," or "}"');
      }
    }
  }

  private array(depth: number): unknown[] {
    this.enter(depth);
    const array: unknown[] = [];
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return array;
    }
    for (;;) {
      array.push(this.value(depth, undefined));
      this.space();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x5d) return array;
      if (c !== 0x2c) {
        this.pos--;
        this.fail('syntax', 'expected "," or "]"');
      }
    }
  }

  private string(): string {
    const { text } = this;
    let start = ++this.pos;
    // Most strings hold no escape and no control character: found by native scans, not char by char.
    const close = text.indexOf('"', start);
    if (close >= 0) {
      const plain = text.slice(start, close);
      if (!NEEDS_CARE.test(plain)) {
        this.pos = close + 1;
        return plain;
      }
    }
    let out = '';
    for (;;) {
      if (this.pos >= text.length) this.fail('syntax', 'unterminated string');
      const c = text.charCodeAt(this.pos);
      if (c === 0x22) {
        out += text.slice(start, this.pos++);
        return out;
      }
      if (c < 0x20) this.fail('syntax', 'control character in a string');
      if (c !== 0x5c) {
        this.pos++;
        continue;
      }
      out += text.slice(start, this.pos);
      const escape = text[this.pos + 1] ?? '';
      if (escape === 'u') {
        const hex = text.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('syntax', 'bad \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 6;
      } else {
        const char = ESCAPES[escape];
        if (char === undefined) this.fail('syntax', 'bad escape');
        out += char;
        this.pos += 2;
      }
      start = this.pos;
    }
  }

  /** Skips decimal digits; returns how many. */
  private digits(): number {
    const { text } = this;
    const from = this.pos;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (c < 0x30 || c > 0x39) break;
      this.pos++;
    }
    return this.pos - from;
  }

  private number(key: string | undefined): number | bigint {
    const { text } = this;
    const start = this.pos;
    if (text.charCodeAt(this.pos) === 0x2d) this.pos++;
    if (text.charCodeAt(this.pos) === 0x30) this.pos++;
    else if (this.digits() === 0) this.fail('syntax', 'bad number');
    let integer = true;
    if (text.charCodeAt(this.pos) === 0x2e) {
      integer = false;
      this.pos++;
      if (this.digits() === 0) this.fail('syntax', 'bad number');
    }
    const e = text.charCodeAt(this.pos);
    if (e === 0x65 || e === 0x45) {
      integer = false;
      this.pos++;
      const sign = text.charCodeAt(this.pos);
      if (sign === 0x2b || sign === 0x2d) this.pos++;
      if (this.digits() === 0) this.fail('syntax', 'bad number');
    }
    const literal = text.slice(start, this.pos);
    return integer && key !== undefined && this.bigintKeys.has(key) ? BigInt(literal) : Number(literal);
  }
}

/**
 * Parses `text` as one JSON value: every key an own property, the integer values of
 * `bigintKeys` are bigints. Throws JsonTextError for anything JSON.parse would refuse, and for a
 * key given twice in one object or nesting deeper than `maxDepth`.
 */
export function parseStrictJson(text: string, options: StrictJsonOptions = {}): unknown {
  return new Reader(text, options.bigintKeys ?? NO_KEYS, options.maxDepth ?? 32).document();
}
