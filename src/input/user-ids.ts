// Reading user ID lists (one per line) as bytes arrive, so a file of millions of lines is never
// held whole: lines are split on the byte 0x0A (which no UTF-8 sequence contains), decoded
// strictly (invalid UTF-8 is refused, never "repaired" into U+FFFD), checked one by one, and handed
// on in chunks. Every bad line is reported (the first ones shown, the rest counted), so an
// operator fixes a file in one pass; duplicates are found by whoever stores the chunks (in SQL, see
// src/store/watched-users.ts), or here for inputs small enough to hold (parseUserIds).
import { InputError } from '../errors.js';
import type { ProviderName } from '../model.js';
import { isInt64Id } from '../providers/volcengine/int64-json.js';
import { codePointName, quoted, unsafeCharacter } from '../output/terminal-text.js';

/** Tencent IM UserIDs are at most 32 bytes. */
export const TENCENT_MAX_USER_ID_BYTES = 32;

/**
 * Longest line judged as a user ID (spaces around it included). A longer line is reported by its
 * length and not kept: a file without line breaks must not be read into memory whole.
 */
export const MAX_LINE_BYTES = 1024;

/** Bad lines shown in one error, at most; the count of the rest is given. */
export const MAX_REPORTED = 20;

const BOM = [0xef, 0xbb, 0xbf];
const NL = 0x0a;
const CR = 0x0d;

/** Why a single ID is unacceptable for the provider, or undefined when it is fine. */
export function userIdProblem(provider: ProviderName, id: string): string | undefined {
  if (id === '') return 'empty user ID';
  if (/\s/.test(id)) return `user ID ${quoted(id)} contains white space`;
  const control = unsafeCharacter(id);
  if (control !== undefined)
    return `user ID ${quoted(id)} contains the control character ${codePointName(control)}, which a terminal would obey when printing it`;
  if (provider === 'tencent') {
    const bytes = Buffer.byteLength(id, 'utf8');
    if (bytes > TENCENT_MAX_USER_ID_BYTES)
      return `user ID ${quoted(id)} is ${bytes} bytes; Tencent IM allows at most ${TENCENT_MAX_USER_ID_BYTES}`;
  } else if (!isInt64Id(id)) {
    // Stored as text and sent as a JSON number: "007" would come back as "7" and never match.
    return `user ID ${quoted(id)} is not a Volcengine user ID: a decimal integer in 1..9223372036854775807, without sign or leading zeros`;
  }
  return undefined;
}

/** The bad lines of one input: the MAX_REPORTED lowest line numbers kept, every one counted. */
export class LineProblems {
  private readonly shown: Array<{ line: number; problem: string }> = [];
  /** How many bad lines there are in all. */
  count = 0;

  constructor(readonly source: string) {}

  /** Records a bad line (in any order: duplicates found later may have lower line numbers). */
  add(line: number, problem: string): void {
    this.count++;
    if (this.shown.length === MAX_REPORTED && line > this.shown[MAX_REPORTED - 1]!.line) return;
    let at = this.shown.length;
    while (at > 0 && this.shown[at - 1]!.line > line) at--;
    this.shown.splice(at, 0, { line, problem });
    if (this.shown.length > MAX_REPORTED) this.shown.pop();
  }

  /** Counts `n` more bad lines that are not shown (all have higher line numbers than those shown). */
  addUnshown(n: number): void {
    this.count += n;
  }

  /** Throws InputError listing the bad lines, when there are any; nothing was written. */
  throwIfAny(): void {
    if (this.count === 0) return;
    const shown = this.shown.map((p) => `${this.source}:${p.line}: ${p.problem}`).join('\n  ');
    const more = this.count > this.shown.length ? `\n  ... and ${this.count - this.shown.length} more` : '';
    throw new InputError(`${this.count} bad line(s) in ${this.source}; nothing was imported:\n  ${shown}${more}`);
  }
}

/** Valid user IDs with the line each was read from, in input order. */
export interface NumberedIds {
  lines: number[];
  userIds: string[];
}

/**
 * Reads a user ID list pushed in byte chunks. Valid IDs collect until take(); bad lines go to
 * `problems`. Memory holds one chunk, the IDs not taken yet and at most MAX_LINE_BYTES of a line
 * that spans chunks.
 */
export class UserIdReader {
  readonly problems: LineProblems;
  /** Lines read so far. */
  lines = 0;
  private pending: NumberedIds = { lines: [], userIds: [] };
  /** The start of the current line (while it is short enough to keep). */
  private partial: Uint8Array[] = [];
  private partialBytes = 0;
  private partialHasCR = false;
  /** False until the input's first bytes were checked for a byte order mark. */
  private started = false;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  constructor(
    private readonly provider: ProviderName,
    source: string,
  ) {
    this.problems = new LineProblems(source);
  }

  /** How many valid IDs wait to be taken. */
  get pendingCount(): number {
    return this.pending.userIds.length;
  }

  /** The valid IDs read since the last take(). */
  take(): NumberedIds {
    const taken = this.pending;
    this.pending = { lines: [], userIds: [] };
    return taken;
  }

  /** Reads the next bytes of the input. */
  push(chunk: Uint8Array): void {
    let bytes = chunk;
    if (!this.started) {
      if (this.partialBytes > 0) bytes = Buffer.concat([...this.partial, chunk]);
      this.partial = [];
      this.partialBytes = 0;
      if (bytes.length < BOM.length && bytes.every((b, i) => b === BOM[i])) {
        // Perhaps the start of a byte order mark: wait for more.
        this.keep(bytes, true);
        return;
      }
      this.started = true;
      // A UTF-8 byte order mark (Windows editors write one) is not part of the first ID.
      if (BOM.every((b, i) => bytes[i] === b)) bytes = bytes.subarray(BOM.length);
    }
    let start = 0;
    for (let nl = bytes.indexOf(NL); nl >= 0; nl = bytes.indexOf(NL, start)) {
      this.keep(bytes.subarray(start, nl), false);
      this.endLine();
      start = nl + 1;
    }
    if (start < bytes.length) this.keep(bytes.subarray(start), true);
  }

  /** Ends the input: a last line without a newline still counts, a final newline adds no line. */
  end(): void {
    if (!this.started) {
      this.started = true;
      if (this.partialBytes === 0) return;
    }
    if (this.partialBytes > 0) this.endLine();
  }

  /** Adds bytes to the current line; `copy` when they outlive this push (the chunk is not ours). */
  private keep(bytes: Uint8Array, copy: boolean): void {
    if (bytes.length === 0) return;
    this.partialBytes += bytes.length;
    if (!this.partialHasCR && bytes.includes(CR)) this.partialHasCR = true;
    if (this.partialBytes <= MAX_LINE_BYTES) this.partial.push(copy ? Uint8Array.from(bytes) : bytes);
    else this.partial = [];
  }

  private endLine(): void {
    const line = ++this.lines;
    const length = this.partialBytes;
    const parts = this.partial;
    const hasCR = this.partialHasCR;
    this.partial = [];
    this.partialBytes = 0;
    this.partialHasCR = false;
    const problem = this.judge(parts, length, hasCR);
    if (problem === undefined) return;
    // Lines arrive in order: once MAX_REPORTED are shown, later ones are only counted.
    if (this.problems.count >= MAX_REPORTED) this.problems.addUnshown(1);
    else this.problems.add(line, problem());
  }

  /** Undefined when the line holds a valid ID (then kept), else what is wrong with it (made only when shown). */
  private judge(parts: Uint8Array[], length: number, hasCR: boolean): (() => string) | undefined {
    if (length > MAX_LINE_BYTES) {
      const hint = hasCR ? ' (its line ends are CR alone: use LF or CRLF)' : '';
      const most = this.provider === 'tencent' ? TENCENT_MAX_USER_ID_BYTES : 19;
      return () =>
        `line is ${length.toLocaleString('en-US')} bytes long${hint}; a user ID is one per line, at most ${most} bytes`;
    }
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    let text: string;
    try {
      text = this.decoder.decode(bytes);
    } catch {
      return () => `not valid UTF-8 (${invalidUtf8Detail(bytes)}); save the file as UTF-8`;
    }
    const id = text.replace(/\r$/, '').trim();
    const problem = userIdProblem(this.provider, id);
    if (problem !== undefined) return () => problem;
    this.pending.lines.push(this.lines);
    this.pending.userIds.push(id);
    return undefined;
  }
}

/** Where a line stops being UTF-8: the byte's position in the line and the bytes from there, in hex. */
function invalidUtf8Detail(bytes: Uint8Array): string {
  const at = firstInvalidUtf8Byte(bytes);
  const hex = [...bytes.subarray(at, at + 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return `byte ${at + 1} of the line: ${hex}`;
}

/** Index of the first byte that does not continue a well-formed UTF-8 sequence (RFC 3629 table). */
function firstInvalidUtf8Byte(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let more: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) more = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      more = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f; // no UTF-16 surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      more = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else return i;
    for (let k = 1; k <= more; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += more + 1;
  }
  return Math.max(0, b.length - 1);
}

/**
 * Parses a whole input held in memory (a small file): IDs one per line, CRLF tolerated, spaces
 * around them trimmed, a final newline allowed, duplicates refused. Throws InputError naming each
 * bad line; `source` names the input in messages.
 */
export function parseUserIds(input: string | Uint8Array, provider: ProviderName, source: string): string[] {
  const reader = new UserIdReader(provider, source);
  reader.push(typeof input === 'string' ? Buffer.from(input, 'utf8') : input);
  reader.end();
  const { lines, userIds } = reader.take();
  const firstLine = new Map<string, number>();
  const ids: string[] = [];
  userIds.forEach((id, i) => {
    const line = lines[i]!;
    const seen = firstLine.get(id);
    if (seen !== undefined) reader.problems.add(line, `duplicate user ID ${quoted(id)} (first on line ${seen})`);
    else {
      firstLine.set(id, line);
      ids.push(id);
    }
  });
  reader.problems.throwIfAny();
  if (ids.length === 0) throw new InputError(`${source} holds no user IDs; nothing was imported`);
  return ids;
}
