// Validating parsers for Tencent IM REST answers. Nothing from the wire is trusted: every field is
// narrowed from `unknown`, and an answer that cannot be understood is a ProviderError rather than a
// guess, because a wrong guess would be recorded as a state transition.
import { providerError, type ProviderError } from '../../errors.js';
import { MAX_PLATFORMS, platformsOf, platformTextProblem } from '../answer.js';
import { clipText, show } from '../http.js';
import { JsonTextError, parseStrictJson } from '../../strict-json.js';
import type { ObservedState, Observation, Platforms } from '../../model.js';
import type { AccountCheckResult, AccountError, StateQueryResult } from '../types.js';
import { TENCENT_ACCOUNT_NOT_IMPORTED, tencentError, type TencentErrorContext } from './errors.js';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badResponse(message: string, retryable = false): ProviderError {
  return providerError('ERR_PROVIDER_BAD_RESPONSE', `Tencent IM answer not understood: ${message}`, {
    provider: 'tencent',
    retryable,
  });
}

/**
 * Parses an answer body strictly (src/providers/strict-json.ts): text that is not JSON at all (cut
 * off, a gateway's page) is transient and retried; JSON with a key given twice or nested absurdly
 * deep is an answer of the wrong shape, not retried.
 */
export function parseAnswerText(text: string, api: string): unknown {
  try {
    return parseStrictJson(text);
  } catch (err) {
    if (err instanceof JsonTextError && err.problem !== 'syntax')
      throw badResponse(`${api} answered with ${err.message}`);
    throw badResponse(`${api} answered with non-JSON: ${show(text)}`, true);
  }
}

/** An optional array field: absent (or null) names nobody, so its users are unanswered; anything but an array is an error. */
function arrayField(body: Json, field: string): unknown[] {
  const value = body[field];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw badResponse(`${field} is not an array`);
  return value;
}

const STATES: ReadonlySet<string> = new Set<ObservedState>(['Online', 'PushOnline', 'Offline']);

function isObservedState(value: unknown): value is ObservedState {
  return typeof value === 'string' && STATES.has(value);
}

// Tencent spells platforms differently across APIs and doc versions (IPhone, iPhone, IOS); one
// spelling each keeps `platforms` comparable between polls, so a respelling is not a transition.
const PLATFORMS = new Map<string, string>([
  ['iphone', 'iPhone'],
  ['ios', 'iPhone'],
  ['android', 'Android'],
  ['web', 'Web'],
  ['pc', 'PC'],
  ['ipad', 'iPad'],
  ['mac', 'Mac'],
  ['windows', 'Windows'],
]);

/** The canonical spelling of a Tencent platform name; unknown names are returned as given. */
export function normalisePlatform(name: string): string {
  return PLATFORMS.get(name.toLowerCase()) ?? name;
}

// Higher is "more online". Unknown platform statuses rank lowest, so a known one always wins.
const RANK: Readonly<Record<string, number>> = { Online: 3, PushOnline: 2, Offline: 1 };
const rank = (status: string): number => RANK[status] ?? 0;

function parseDetail(account: string, detail: unknown): Platforms {
  const platforms = new Map<string, string>();
  // Absent for a user with no platform to report (the simulator and the seed's Offline user). A
  // null is not documented, and reading it as "no platforms" would be a guess.
  if (detail === undefined) return {};
  if (!Array.isArray(detail)) throw badResponse(`Detail of ${show(account)} is ${show(detail)}, not an array`);
  for (const entry of detail) {
    if (!isObject(entry) || typeof entry.Platform !== 'string' || typeof entry.Status !== 'string') {
      throw badResponse(`Detail entry of ${show(account)} is not {Platform, Status}: ${show(entry)}`);
    }
    // Names and statuses are stored on every row of the user: a 20 kB name, or a NUL that jsonb
    // cannot hold, is not a platform.
    const problem = platformTextProblem(entry.Platform) ?? platformTextProblem(entry.Status);
    if (problem !== undefined) throw badResponse(`Detail entry of ${show(account)} ${problem}: ${show(entry)}`);
    // Platform statuses are only jsonb detail, so an unfamiliar one is kept rather than failing the
    // whole batch; the user's own state is checked strictly.
    const platform = normalisePlatform(entry.Platform);
    const previous = platforms.get(platform);
    if (previous === undefined || rank(entry.Status) > rank(previous)) platforms.set(platform, entry.Status);
    if (platforms.size > MAX_PLATFORMS)
      throw badResponse(`Detail of ${show(account)} names more than ${MAX_PLATFORMS} platforms`);
  }
  // A Map, then entries: a platform named `__proto__` is kept as data, not lost to the prototype.
  return platformsOf(platforms);
}

/**
 * Parses a querystate / query_online_status answer whose envelope was already checked: every entry,
 * as given (readAnswer in src/providers/answer.ts decides what of it is recorded).
 */
export function parseStateResponse(body: unknown, detail: boolean): StateQueryResult {
  if (!isObject(body)) throw badResponse('the body is not a JSON object');
  const observations: Observation[] = [];
  for (const entry of arrayField(body, 'QueryResult')) {
    if (!isObject(entry) || typeof entry.To_Account !== 'string') {
      throw badResponse(`QueryResult entry without To_Account: ${show(entry)}`);
    }
    const account = entry.To_Account;
    // The English doc says State, the Chinese doc and Tencent's SDK say Status. Both, disagreeing,
    // is no state at all.
    if (entry.State !== undefined && entry.Status !== undefined && entry.State !== entry.Status) {
      throw badResponse(`${show(account)} has State ${show(entry.State)} and Status ${show(entry.Status)}`);
    }
    const state = entry.State ?? entry.Status;
    if (!isObservedState(state)) {
      throw badResponse(`state of ${show(account)} is ${show(state)}, expected Online, PushOnline or Offline`);
    }
    observations.push({ userId: account, state, platforms: detail ? parseDetail(account, entry.Detail) : null });
  }
  const accountErrors: AccountError[] = [];
  const missingAccounts: string[] = [];
  for (const entry of arrayField(body, 'ErrorList')) {
    if (
      !isObject(entry) ||
      typeof entry.To_Account !== 'string' ||
      typeof entry.ErrorCode !== 'number' ||
      !Number.isSafeInteger(entry.ErrorCode)
    ) {
      throw badResponse(`ErrorList entry is not {To_Account, ErrorCode}: ${show(entry)}`);
    }
    // 70107: the account was never imported (or was deleted). Not Offline: an account that does not exist.
    if (entry.ErrorCode === TENCENT_ACCOUNT_NOT_IMPORTED) missingAccounts.push(entry.To_Account);
    else accountErrors.push({ userId: entry.To_Account, code: entry.ErrorCode });
  }
  return { observations, missingAccounts, accountErrors };
}

/** ResultCode of a failure that is the answer's fault, not the account's: left out, or answered twice in two ways. */
export const ANSWER_FAULT_RESULT_CODE = -1;

type CheckItem = { status: 'Imported' | 'NotImported' } | { resultCode: number; resultInfo: string };

/**
 * Parses an account_check answer whose envelope was already checked, against the accounts asked
 * about: one naming an account not asked about is refused whole (it may answer another request).
 */
export function parseAccountCheckResponse(body: unknown, requested: readonly string[]): AccountCheckResult {
  if (!isObject(body)) throw badResponse('the body is not a JSON object');
  const asked = new Set(requested);
  const said = new Map<string, CheckItem[]>();
  for (const entry of arrayField(body, 'ResultItem')) {
    if (
      !isObject(entry) ||
      typeof entry.UserID !== 'string' ||
      typeof entry.ResultCode !== 'number' ||
      !Number.isSafeInteger(entry.ResultCode)
    ) {
      throw badResponse(`ResultItem entry is not {UserID, ResultCode}: ${show(entry)}`);
    }
    if (!asked.has(entry.UserID))
      throw badResponse(`account_check answer names ${show(entry.UserID)}, which was not asked about`);
    let item: CheckItem;
    if (entry.ResultCode !== 0) {
      const resultInfo = typeof entry.ResultInfo === 'string' ? clipText(entry.ResultInfo) : '';
      item = { resultCode: entry.ResultCode, resultInfo };
    } else {
      const status = entry.AccountStatus;
      if (status !== 'Imported' && status !== 'NotImported') {
        throw badResponse(
          `AccountStatus of ${show(entry.UserID)} is ${show(status)}, expected Imported or NotImported`,
        );
      }
      item = { status };
    }
    const items = said.get(entry.UserID) ?? [];
    items.push(item);
    said.set(entry.UserID, items);
  }
  const result: AccountCheckResult = { statuses: [], failures: [] };
  const answerFault = (userId: string, resultInfo: string) =>
    result.failures.push({ userId, code: String(ANSWER_FAULT_RESULT_CODE), info: resultInfo });
  for (const userId of asked) {
    const items = said.get(userId);
    const first = items?.[0];
    if (items === undefined || first === undefined) answerFault(userId, 'left out of the answer');
    else if (items.some((i) => JSON.stringify(i) !== JSON.stringify(first)))
      answerFault(userId, 'answered twice in two ways');
    else if ('status' in first) result.statuses.push({ userId, status: first.status });
    else result.failures.push({ userId, code: String(first.resultCode), info: first.resultInfo });
  }
  return result;
}

/** Throws the mapped ProviderError unless the envelope says `ActionStatus: OK` and `ErrorCode: 0`. */
export function checkEnvelope(body: unknown, context: TencentErrorContext): void {
  const { api } = context;
  if (!isObject(body)) throw badResponse(`${api} answered with something other than a JSON object`);
  const { ActionStatus: status, ErrorCode: code, ErrorInfo: info } = body;
  if (code !== undefined && (typeof code !== 'number' || !Number.isInteger(code))) {
    throw badResponse(`${api} ErrorCode is ${show(code)}, not an integer`);
  }
  // ErrorInfo is the provider's free text: it reaches the log and poll_cycle.error, so it is cut short.
  const errorInfo = typeof info === 'string' ? clipText(info) : '';
  if (code !== undefined && code !== 0) throw tencentError(code, errorInfo, context);
  // A failure without a code cannot be classified; calling it OK would record nothing true either.
  if (status !== 'OK')
    throw badResponse(`${api} ActionStatus is ${show(status)} with ErrorCode ${show(code)} (${errorInfo})`);
}
