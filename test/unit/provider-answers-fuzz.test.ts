// Seeded malformed answers through each provider's parser and readAnswer, the path from an answer's
// text to what a cycle records. Each body is a mutation of a valid answer whose reading is known:
// cut off, a value of the wrong type, a huge value, absurd nesting, a key given twice, or only
// whitespace and key order changed. The only outcomes allowed: the batch fails (a ProviderError,
// so runCycle writes nothing for it), or the users recorded are recorded exactly as the valid answer
// says, every other user asked about being reported unobserved. Noise must read exactly the same.
import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/errors.js';
import { readAnswer, type AnswerReading } from '../../src/providers/answer.js';
import { parseStrictJson } from '../../src/strict-json.js';
import { checkEnvelope, parseAnswerText, parseStateResponse } from '../../src/providers/tencent/parse.js';
import { parseQueryOnlineStatus, toStateQueryResult } from '../../src/providers/volcengine/parse.js';
import { seededRandom } from '../../src/simulator/seeded-random.js';

type Random = () => number;
type Path = (string | number)[];
type Kind = 'truncated' | 'wrong type' | 'huge' | 'deep' | 'duplicate key' | 'noise';
const KINDS: Kind[] = ['truncated', 'wrong type', 'huge', 'deep', 'duplicate key', 'noise'];
const PER_KIND = 500;

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An object written with the given entries, a key possibly twice. */
class Entries {
  constructor(readonly entries: [string, unknown][]) {}
}
/** Text spliced in as is (absurd nesting). */
class Raw {
  constructor(readonly text: string) {}
}

/** JSON text of a tree whose int64s are bigints; with `random`, spaces between tokens and keys shuffled. */
function write(value: unknown, random?: Random): string {
  const space = () => (random && random() < 0.3 ? pick(random, [' ', '\n', '\t', '  ', '\r\n']) : '');
  if (value instanceof Raw) return value.text;
  if (typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `[${value.map((v) => space() + write(v, random) + space()).join(',')}]`;
  const entries = value instanceof Entries ? value.entries : isObject(value) ? Object.entries(value) : undefined;
  if (entries === undefined) return JSON.stringify(value);
  const ordered = random && !(value instanceof Entries) ? [...entries].sort(() => random() - 0.5) : entries;
  return `{${ordered.map(([k, v]) => `${space()}${JSON.stringify(k)}${space()}:${space()}${write(v, random)}${space()}`).join(',')}}`;
}

/** Every node below the root, with its path. */
function nodes(value: unknown, path: Path = []): { path: Path; value: unknown }[] {
  const children: [string | number, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : isObject(value)
      ? Object.entries(value)
      : [];
  return children.flatMap(([k, v]) => [{ path: [...path, k], value: v }, ...nodes(v, [...path, k])]);
}

/** A copy of `tree` with the node at `path` replaced. */
function setAt(tree: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string | number, ...Path];
  if (Array.isArray(tree)) return (tree as unknown[]).map((v, i) => (i === head ? setAt(v, rest, value) : v));
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(tree as Record<string, unknown>))
    copy[k] = k === head ? setAt(v, rest, value) : v;
  return copy;
}

type JsonType = 'string' | 'number' | 'boolean' | 'null' | 'array' | 'object';
function jsonType(v: unknown): JsonType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'bigint') return 'number';
  return typeof v === 'object' ? 'object' : (typeof v as JsonType);
}
const REPLACEMENTS: unknown[] = [42, -1.5, 1e300, 'text', '', true, false, null, [], [1, 'a'], {}, { x: 1 }];

/** One provider: valid answers with the users they were asked about, and the text → reading path. */
interface Subject {
  name: string;
  /** A valid answer, as a tree, and the users asked. */
  answer(random: Random): { tree: unknown; requested: string[] };
  read(text: string, requested: string[]): AnswerReading;
  /** Paths where null is a legitimate, different reading (Go's nil map or slice: nobody online). */
  nullable(path: Path): boolean;
}

const TENCENT_PLATFORMS = ['iPhone', 'IPhone', 'Android', 'Web', 'PC', 'iPad', 'Mac', 'HarmonyOS'];
const STATES = ['Online', 'PushOnline', 'Offline'];

const tencent: Subject = {
  name: 'Tencent querystate',
  answer(random) {
    const requested = Array.from({ length: 1 + Math.floor(random() * 20) }, (_, i) => `user-${i}`);
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const id of requested) {
      const u = random();
      if (u < 0.1) continue; // left out
      if (u < 0.2) {
        errors.push({ To_Account: id, ErrorCode: pick(random, [70107, 70500]) });
        continue;
      }
      const entry: Record<string, unknown> = {
        To_Account: id,
        [pick(random, ['State', 'Status'])]: pick(random, STATES),
      };
      if (random() < 0.7)
        entry.Detail = Array.from({ length: Math.floor(random() * 4) }, () => ({
          Platform: pick(random, TENCENT_PLATFORMS),
          Status: pick(random, STATES),
        }));
      results.push(entry);
    }
    const tree: Record<string, unknown> = { ActionStatus: 'OK', ErrorInfo: '', ErrorCode: 0, QueryResult: results };
    if (errors.length > 0) tree.ErrorList = errors;
    if (random() < 0.5) tree.RequestId = 'Id-70b5b3ad';
    return { tree, requested };
  },
  read(text, requested) {
    const body = parseAnswerText(text, 'querystate');
    checkEnvelope(body, { api: 'querystate', sdkAppId: '1400000001' });
    return readAnswer(parseStateResponse(body, true), requested, 'tencent');
  },
  nullable: () => false,
};

const VOLC_APP = '123456';
const volcengine: Subject = {
  name: 'Volcengine QueryOnlineStatus',
  answer(random) {
    const first = 9_007_199_254_740_993n;
    const requested = Array.from({ length: 1 + Math.floor(random() * 20) }, (_, i) => String(first + BigInt(i)));
    const map: Record<string, unknown> = {};
    let conn = 0;
    for (const id of requested) {
      const u = random();
      if (u < 0.3) continue; // offline: left out
      if (u < 0.4) {
        map[id] = random() < 0.5 ? [] : null;
        continue;
      }
      map[id] = Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({
        ConnId: `conn-${conn++}`,
        UserId: BigInt(id),
        DeviceId: BigInt(id) * 3n,
        ClientVersion: 10203n,
        Platform: pick(random, ['Android', 'iOS', 'IOS', 'Web', 'web', 'Windows']),
      }));
    }
    const result: Record<string, unknown> = { AppId: BigInt(VOLC_APP) };
    if (Object.keys(map).length > 0 || random() < 0.5) result.QueryOnlineResults = map;
    const metadata = {
      RequestId: 'r-1',
      Action: 'QueryOnlineStatus',
      Version: '2020-12-01',
      Service: 'rtc',
      Region: 'cn-north-1',
    };
    return { tree: { ResponseMetadata: metadata, Result: result }, requested };
  },
  read(text, requested) {
    const online = parseQueryOnlineStatus(text, 200, VOLC_APP);
    return readAnswer(toStateQueryResult(requested, online, true), requested, 'volcengine');
  },
  nullable: (path) => path[0] === 'Result' && path[1] === 'QueryOnlineResults' && path.length <= 3,
};

/** The mutated body of one kind, from a valid answer's tree and text. */
function mutate(kind: Kind, tree: unknown, text: string, subject: Subject, random: Random): string {
  const all = kind === 'truncated' || kind === 'noise' ? [] : nodes(tree);
  switch (kind) {
    case 'truncated':
      return text.slice(0, Math.floor(random() * text.length));
    case 'noise':
      return write(tree, random);
    case 'wrong type': {
      const { path, value } = pick(random, all);
      const candidates = REPLACEMENTS.filter(
        (r) => jsonType(r) !== jsonType(value) && !(r === null && subject.nullable(path)),
      );
      return write(setAt(tree, path, pick(random, candidates)));
    }
    case 'huge': {
      const strings = all.filter((n) => typeof n.value === 'string');
      const arrays = all.filter((n) => Array.isArray(n.value) && n.value.length > 0);
      const u = random();
      if (u < 0.4 && strings.length > 0) {
        const { path, value } = pick(random, strings);
        return write(setAt(tree, path, `${value as string}${'x'.repeat(20_000)}`));
      }
      if (u < 0.8 && arrays.length > 0) {
        const { path, value } = pick(random, arrays);
        const items = value as unknown[];
        return write(
          setAt(
            tree,
            path,
            Array.from({ length: 300 }, (_, i) => items[i % items.length]),
          ),
        );
      }
      return write(setAt(tree, ['Padding'], 'p'.repeat(50_000)));
    }
    case 'deep': {
      const depth = 33 + Math.floor(random() * 5_000);
      const { path } = pick(random, all);
      return write(setAt(tree, path, new Raw(`${'['.repeat(depth)}1${']'.repeat(depth)}`)));
    }
    case 'duplicate key': {
      const objects = [{ path: [] as Path, value: tree }, ...all].filter(
        (n) => isObject(n.value) && Object.keys(n.value).length > 0,
      );
      const { path, value } = pick(random, objects);
      const entries = Object.entries(value as Record<string, unknown>);
      const [key, original] = pick(random, entries);
      const again = random() < 0.5 ? original : pick(random, REPLACEMENTS);
      const at = Math.floor(random() * (entries.length + 1));
      entries.splice(at, 0, [key, again]);
      return write(setAt(tree, path, new Entries(entries)));
    }
  }
}

type Outcome = 'failed' | 'same' | 'part';

/** Runs the mutated body and checks that its reading is a failure or agrees with the valid one's. */
function outcome(subject: Subject, base: AnswerReading, requested: string[], body: string, label: string): Outcome {
  let reading: AnswerReading;
  try {
    reading = subject.read(body, requested);
  } catch (err) {
    expect(err, label).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).code, label).toBe('ERR_PROVIDER_BAD_RESPONSE');
    // Quoted in logs and poll_cycle.error: never the huge value itself.
    expect((err as Error).message.length, label).toBeLessThan(400);
    return 'failed';
  }
  const said = new Map(base.observations.map((o) => [o.userId, o]));
  const failedAs = new Map(base.accountErrors.map((e) => [e.userId, e.code]));
  const missing = new Set(base.missingAccounts);
  for (const o of reading.observations) expect(o, label).toEqual(said.get(o.userId));
  for (const e of reading.accountErrors) expect(e.code, label).toBe(failedAs.get(e.userId));
  for (const u of reading.missingAccounts) expect(missing.has(u), label).toBe(true);
  // Every user asked about is accounted for, once.
  const accounted = [
    ...reading.observations.map((x) => x.userId),
    ...reading.accountErrors.map((x) => x.userId),
    ...reading.missingAccounts,
    ...reading.unobserved.map((x) => x.userId),
  ];
  expect(accounted.sort(), label).toEqual([...new Set(requested)].sort());
  return JSON.stringify(reading) === JSON.stringify(base) ? 'same' : 'part';
}

describe.each([tencent, volcengine])('$name: seeded malformed answers', (subject) => {
  it(`reads ${KINDS.length * PER_KIND} mutations as a failed batch or as the valid answer says`, () => {
    const counts = new Map<Kind, Record<Outcome, number>>(KINDS.map((k) => [k, { failed: 0, same: 0, part: 0 }]));
    for (let seed = 1; seed <= PER_KIND; seed++) {
      const random = seededRandom(seed);
      const { tree, requested } = subject.answer(random);
      const text = write(tree);
      // The valid answer reads; the strict reader and JSON.parse agree on it.
      const base = subject.read(text, requested);
      expect(JSON.stringify(parseStrictJson(text, { bigintKeys: new Set() }))).toBe(JSON.stringify(JSON.parse(text)));
      for (const kind of KINDS) {
        const body = mutate(kind, tree, text, subject, random);
        const label = `${subject.name}, seed ${seed}, ${kind}: ${body.slice(0, 300)}`;
        const result = outcome(subject, base, requested, body, label);
        counts.get(kind)![result]++;
        if (kind === 'noise') expect(result, label).toBe('same');
        if (kind === 'truncated' || kind === 'deep' || kind === 'duplicate key') expect(result, label).toBe('failed');
      }
    }
    // Wrong types and huge values either fail or touch nothing recorded; both must have happened.
    for (const kind of ['wrong type', 'huge'] as const) {
      const c = counts.get(kind)!;
      expect(c.failed, kind).toBeGreaterThan(PER_KIND / 4);
      expect(c.failed + c.same + c.part).toBe(PER_KIND);
    }
  });
});
