// Parsing user ID lists (one per line). The whole input is validated before anything is written,
// and every bad line is reported, so an operator fixes a file in one pass.
import { InputError } from '../errors.js';
import type { ProviderName } from '../model.js';
import { isInt64Id } from '../providers/volcengine/int64-json.js';

/** Tencent IM UserIDs are at most 32 bytes. */
export const TENCENT_MAX_USER_ID_BYTES = 32;

/** Bad lines reported in one error, at most; the count of the rest is given. */
const MAX_REPORTED = 20;

/** Why a single ID is unacceptable for the provider, or undefined when it is fine. */
export function userIdProblem(provider: ProviderName, id: string): string | undefined {
  if (id === '') return 'empty user ID';
  if (/\s/.test(id)) return `user ID ${JSON.stringify(id)} contains white space`;
  if (provider === 'tencent') {
    const bytes = Buffer.byteLength(id, 'utf8');
    if (bytes > TENCENT_MAX_USER_ID_BYTES)
      return `user ID ${JSON.stringify(id)} is ${bytes} bytes; Tencent IM allows at most ${TENCENT_MAX_USER_ID_BYTES}`;
  } else if (!isInt64Id(id)) {
    // Stored as text and sent as a JSON number: "007" would come back as "7" and never match.
    return `user ID ${JSON.stringify(id)} is not a Volcengine user ID: a decimal integer in 1..9223372036854775807, without sign or leading zeros`;
  }
  return undefined;
}

/**
 * Splits `text` into user IDs, one per line (CRLF tolerated, surrounding spaces trimmed, a final
 * newline allowed). Throws InputError naming each bad line: empty, duplicate, or invalid for the
 * provider. `source` names the input in messages (a file name, or stdin).
 */
export function parseUserIds(text: string, provider: ProviderName, source: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const ids: string[] = [];
  const firstLine = new Map<string, number>();
  const problems: string[] = [];
  lines.forEach((raw, index) => {
    const line = index + 1;
    const id = raw.replace(/\r$/, '').trim();
    const problem = userIdProblem(provider, id);
    if (problem) {
      problems.push(`${source}:${line}: ${problem}`);
      return;
    }
    const seen = firstLine.get(id);
    if (seen !== undefined) {
      problems.push(`${source}:${line}: duplicate user ID ${JSON.stringify(id)} (first on line ${seen})`);
      return;
    }
    firstLine.set(id, line);
    ids.push(id);
  });
  if (problems.length > 0) {
    const shown = problems.slice(0, MAX_REPORTED).join('\n  ');
    const more = problems.length > MAX_REPORTED ? `\n  ... and ${problems.length - MAX_REPORTED} more` : '';
    throw new InputError(`${problems.length} bad line(s) in ${source}; nothing was imported:\n  ${shown}${more}`);
  }
  if (ids.length === 0) throw new InputError(`${source} holds no user IDs; nothing was imported`);
  return ids;
}
