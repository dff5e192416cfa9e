// Validating parsers for Tencent IM REST answers. Nothing from the wire is trusted: every field is
// narrowed from `unknown`, and an answer that cannot be understood is a ProviderError rather than a
// guess, because a wrong guess would be recorded as a state transition.
import { providerError, type ProviderError } from '../../errors.js';
import type { ObservedState, Observation, Platforms } from '../../model.js';
import type { AccountCheckResult, AccountError, StateQueryResult } from '../types.js';
import { TENCENT_ACCOUNT_NOT_IMPORTED, tencentError, type TencentErrorContext } from './errors.js';
import { show } from '../http.js';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badResponse(message: string): ProviderError {
  return providerError('ERR_PROVIDER_BAD_RESPONSE', `Tencent IM answer not understood: ${message}`, {
    provider: 'tencent',
  });
}

/** An optional array field: absent is empty, anything but an array is an error. */
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
  const platforms: Record<string, string> = {};
  if (detail === undefined || detail === null) return platforms;
  if (!Array.isArray(detail)) throw badResponse(`Detail of ${show(account)} is not an array`);
  for (const entry of detail) {
    if (!isObject(entry) || typeof entry.Platform !== 'string' || typeof entry.Status !== 'string') {
      throw badResponse(`Detail entry of ${show(account)} is not {Platform, Status}: ${show(entry)}`);
    }
    // Platform statuses are only jsonb detail, so an unfamiliar one is kept rather than failing the
    // whole batch; the user's own state is checked strictly.
    const platform = normalisePlatform(entry.Platform);
    const previous = platforms[platform];
    if (previous === undefined || rank(entry.Status) > rank(previous)) platforms[platform] = entry.Status;
  }
  return platforms;
}

/** Parses a querystate / query_online_status answer whose envelope was already checked. */
export function parseStateResponse(body: unknown, detail: boolean): StateQueryResult {
  if (!isObject(body)) throw badResponse('the body is not a JSON object');
  const observations: Observation[] = [];
  for (const entry of arrayField(body, 'QueryResult')) {
    if (!isObject(entry) || typeof entry.To_Account !== 'string') {
      throw badResponse(`QueryResult entry without To_Account: ${show(entry)}`);
    }
    const account = entry.To_Account;
    // The English doc says State, the Chinese doc and Tencent's SDK say Status.
    const state = entry.State ?? entry.Status;
    if (!isObservedState(state)) {
      throw badResponse(`state of ${show(account)} is ${show(state)}, expected Online, PushOnline or Offline`);
    }
    observations.push({ userId: account, state, platforms: detail ? parseDetail(account, entry.Detail) : null });
  }
  const accountErrors: AccountError[] = [];
  const missingAccounts: string[] = [];
  for (const entry of arrayField(body, 'ErrorList')) {
    if (!isObject(entry) || typeof entry.To_Account !== 'string' || typeof entry.ErrorCode !== 'number') {
      throw badResponse(`ErrorList entry is not {To_Account, ErrorCode}: ${show(entry)}`);
    }
    // 70107: the account was never imported (or was deleted). Not Offline: an account that does not exist.
    if (entry.ErrorCode === TENCENT_ACCOUNT_NOT_IMPORTED) missingAccounts.push(entry.To_Account);
    else accountErrors.push({ userId: entry.To_Account, code: entry.ErrorCode });
  }
  return { observations, missingAccounts, accountErrors };
}

/** Parses an account_check answer whose envelope was already checked. */
export function parseAccountCheckResponse(body: unknown): AccountCheckResult {
  if (!isObject(body)) throw badResponse('the body is not a JSON object');
  const result: AccountCheckResult = { statuses: [], failures: [] };
  for (const entry of arrayField(body, 'ResultItem')) {
    if (!isObject(entry) || typeof entry.UserID !== 'string' || typeof entry.ResultCode !== 'number') {
      throw badResponse(`ResultItem entry is not {UserID, ResultCode}: ${show(entry)}`);
    }
    if (entry.ResultCode !== 0) {
      const resultInfo = typeof entry.ResultInfo === 'string' ? entry.ResultInfo : '';
      result.failures.push({ userId: entry.UserID, code: String(entry.ResultCode), info: resultInfo });
      continue;
    }
    const status = entry.AccountStatus;
    if (status !== 'Imported' && status !== 'NotImported') {
      throw badResponse(`AccountStatus of ${show(entry.UserID)} is ${show(status)}, expected Imported or NotImported`);
    }
    result.statuses.push({ userId: entry.UserID, status });
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
  const errorInfo = typeof info === 'string' ? info : '';
  if (code !== undefined && code !== 0) throw tencentError(code, errorInfo, context);
  // A failure without a code cannot be classified; calling it OK would record nothing true either.
  if (status !== 'OK')
    throw badResponse(`${api} ActionStatus is ${show(status)} with ErrorCode ${show(code)} (${errorInfo})`);
}
