// Seeded malformed variants of a valid State.StateChange body, for the fuzz test. Every variant is
// either malformed (truncated, a field of the wrong type, a key twice, too deep, a bad string,
// junk around it) or the same body written differently (spacing, escapes, number forms, an unread
// field grown huge or odd): never another valid event. So the correct reading of each is known:
// refused, or exactly the event of the original.

/** A JSON tree whose objects keep their key order and may hold a key twice. */
type Node = null | boolean | number | string | Node[] | { pairs: Array<[string, Node]> } | { raw: string };

/** One variant and what was done to it. */
export interface Mutation {
  kind: string;
  text: string;
  /**
   * The correct reading: `event` (says what the original says), `refused` (malformed), or
   * `either` (the original's meaning, past a documented limit such as the nesting depth).
   */
  expect: 'event' | 'refused' | 'either';
}

function toNode(value: unknown): Node {
  if (Array.isArray(value)) return value.map(toNode);
  if (value !== null && typeof value === 'object')
    return { pairs: Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, toNode(v)]) };
  return value as Node;
}

function escapeString(text: string, random: () => number, escapeRate: number): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    // Half a surrogate pair is written escaped: raw, it has no UTF-8 form at all.
    const half = ch.length === 1 && code >= 0xd800 && code <= 0xdfff;
    if (ch === '"' || ch === '\\' || code < 0x20 || half || random() < escapeRate)
      out += ch.length > 1 ? JSON.stringify(ch).slice(1, -1) : `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Renders a tree; `random` decides extra white space and escapes (both keep the meaning). */
function render(node: Node, random: () => number, style: { space: number; escape: number }): string {
  const ws = () => (random() < style.space ? [' ', '\n', '\t', '\r\n  '][Math.floor(random() * 4)]! : '');
  if (node === null || typeof node === 'boolean') return String(node);
  if (typeof node === 'number') return JSON.stringify(node);
  if (typeof node === 'string') return escapeString(node, random, style.escape);
  if (Array.isArray(node)) return `[${node.map((n) => ws() + render(n, random, style) + ws()).join(',')}]`;
  if ('raw' in node) return node.raw;
  return `{${node.pairs
    .map(([k, v]) => `${ws()}${escapeString(k, random, style.escape)}${ws()}:${ws()}${render(v, random, style)}${ws()}`)
    .join(',')}}`;
}

type Path = Array<string | number>;

function get(node: Node, path: Path): Node | undefined {
  let at: Node | undefined = node;
  for (const step of path) {
    if (at === null || typeof at !== 'object' || 'raw' in at) return undefined;
    at = Array.isArray(at) ? at[step as number] : at.pairs.find(([k]) => k === step)?.[1];
  }
  return at;
}

/** A copy with the node at `path` replaced (undefined: removed). */
function set(node: Node, path: Path, value: Node | undefined): Node {
  if (path.length === 0) return value ?? null;
  const [step, ...rest] = path;
  if (Array.isArray(node)) return node.map((n, i) => (i === step ? set(n, rest, value) : n));
  if (node === null || typeof node !== 'object' || 'raw' in node) return node;
  const pairs: Array<[string, Node]> = [];
  for (const [k, v] of node.pairs) {
    if (k !== step) pairs.push([k, v]);
    else if (rest.length > 0 || value !== undefined) pairs.push([k, rest.length > 0 ? set(v, rest, value) : value!]);
  }
  return { pairs };
}

function kindOf(node: Node | undefined): string {
  if (node === null) return 'null';
  if (Array.isArray(node)) return 'array';
  if (node === undefined) return 'undefined';
  return typeof node === 'object' ? ('raw' in node ? 'raw' : 'object') : typeof node;
}

const OTHER_TYPES: Node[] = [null, true, false, 0, -1, 1.5, 1e21, '', 'x', '1767225600000', [], [1], { pairs: [] }];
const BAD_USER_IDS = ['', 'a b', 'tab\there', 'nul\u0000', 'esc\u001b', '\ud800', 'x'.repeat(33), 'é'.repeat(17)];
const JUNK = ['x', ',', ']', '}', '{}', '\u0000', 'null', '\u00a0', '//'];

/** Paths the reader reads (a change of type must be refused) and paths it does not (a change must not matter). */
const READ_PATHS: Path[] = [['CallbackCommand'], ['EventTime'], ['Info'], ['Info', 'Action'], ['Info', 'To_Account']];
const UNREAD_PATHS: Path[] = [['KickedDevice'], ['KickedDevice', 0], ['KickedDevice', 0, 'Platform']];

/** `count` variants of `body` (a JS object that serialises to a valid State.StateChange body), seeded by `random`. */
export function mutateBody(body: Record<string, unknown>, count: number, random: () => number): Mutation[] {
  const tree = toNode(body);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const plain = (node: Node) => render(node, random, { space: 0, escape: 0 });
  const out: Mutation[] = [];
  const makers: Array<() => Mutation> = [
    () => {
      const text = plain(tree);
      return { kind: 'truncated', text: text.slice(0, Math.floor(random() * text.length)), expect: 'refused' };
    },
    () => {
      const path = pick(READ_PATHS);
      const original = kindOf(get(tree, path));
      const value = pick(OTHER_TYPES.filter((v) => kindOf(v) !== original));
      return { kind: `wrong type ${path.join('.')}`, text: plain(set(tree, path, value)), expect: 'refused' };
    },
    () => {
      const path = pick(UNREAD_PATHS);
      return { kind: `other type ${path.join('.')}`, text: plain(set(tree, path, pick(OTHER_TYPES))), expect: 'event' };
    },
    () => {
      // The body's CallbackCommand may go (the query has it); the rest may not.
      const path = pick(READ_PATHS);
      return {
        kind: `missing ${path.join('.')}`,
        text: plain(set(tree, path, undefined)),
        expect: path[0] === 'CallbackCommand' ? 'event' : 'refused',
      };
    },
    () => {
      const path = pick([[], ['Info'], ['KickedDevice', 0]] as Path[]);
      const target = get(tree, path) as { pairs: Array<[string, Node]> };
      const [key, value] = pick(target.pairs);
      const twice = { pairs: [...target.pairs, [key, random() < 0.5 ? value : pick(OTHER_TYPES)] as [string, Node]] };
      return { kind: `duplicate ${[...path, key].join('.')}`, text: plain(set(tree, path, twice)), expect: 'refused' };
    },
    () => {
      const depth = pick([3, 8, 9, 12, 50, 2_000]);
      const path = pick([...READ_PATHS, ...UNREAD_PATHS]);
      const open = random() < 0.5 ? '[' : '{"n":';
      const close = open === '[' ? ']' : '}';
      const raw = open.repeat(depth) + plain(get(tree, path)!) + close.repeat(depth);
      return {
        kind: `nested ${depth} at ${path.join('.')}`,
        text: plain(set(tree, path, { raw })),
        // Unread, and within 10 levels (3 are the body's own): the same event; deeper may be refused.
        expect: UNREAD_PATHS.includes(path) ? (depth <= 7 ? 'event' : 'either') : 'refused',
      };
    },
    () => {
      const size = pick([1_000, 20_000, 60_000]);
      const choice = pick(['pad', 'user', 'number', 'devices'] as const);
      if (choice === 'pad')
        return {
          kind: `huge unread field ${size}`,
          text: plain({ pairs: [...(tree as { pairs: Array<[string, Node]> }).pairs, ['Pad', 'p'.repeat(size)]] }),
          expect: 'event',
        };
      if (choice === 'user')
        return {
          kind: 'huge To_Account',
          text: plain(set(tree, ['Info', 'To_Account'], 'u'.repeat(size))),
          expect: 'refused',
        };
      if (choice === 'number')
        return {
          kind: 'huge EventTime',
          text: plain(set(tree, ['EventTime'], { raw: `1${'0'.repeat(size / 100)}` })),
          expect: 'refused',
        };
      const devices = Array.from({ length: size / 20 }, (): Node => ({ pairs: [['Platform', 'iOS']] }));
      return {
        kind: `huge KickedDevice ${size / 20}`,
        text: plain(set(tree, ['KickedDevice'], devices)),
        expect: 'event',
      };
    },
    () => ({
      kind: 'bad To_Account',
      text: plain(set(tree, ['Info', 'To_Account'], pick(BAD_USER_IDS))),
      expect: 'refused',
    }),
    () => {
      const text = plain(tree);
      const junk = pick(JUNK);
      return { kind: 'junk around', text: random() < 0.5 ? junk + text : text + junk, expect: 'refused' };
    },
    () => ({
      kind: 'rewritten (space, escapes)',
      text: render(tree, random, { space: 0.5, escape: 0.3 }),
      expect: 'event',
    }),
    () => {
      const eventTime = get(tree, ['EventTime']) as number;
      const forms = [`${eventTime}.0`, `${eventTime / 1000}e3`, `${eventTime}e0`, `${eventTime}.5`, `-${eventTime}`];
      const raw = pick(forms);
      return {
        kind: `EventTime written ${raw}`,
        text: plain(set(tree, ['EventTime'], { raw })),
        expect: Number(raw) === eventTime ? 'event' : 'refused',
      };
    },
  ];
  for (let i = 0; i < count; i++) out.push(pick(makers)());
  return out;
}
