// Validating parser for Volcengine QueryOnlineStatus answers. Nothing from the wire is trusted: every
// field is narrowed from `unknown`, and an answer that cannot be understood is a ProviderError rather
// than a guess, because a wrong guess would be recorded as a state transition. The int64 fields
// (UserId, DeviceId, ClientVersion, AppId) are read as exact decimal strings, never as JS numbers.
import { providerError, type ProviderError } from '../../errors.js';
import type { Observation } from '../../model.js';
import type { StateQueryResult } from '../types.js';
import { volcengineError } from './errors.js';
import { isInt64Id, parseJsonWithInt64 } from './int64-json.js';
import { show } from '../http.js';

/** One connection of an online user, int64 fields as exact decimal text. */
export interface VolcConnection {
  /** ConnId ('' when absent). */
  connId: string;
  /** UserId, always equal to the map key it was listed under. */
  userId: string;
  /** DeviceId, exact decimal ('' when absent). */
  deviceId: string;
  /** ClientVersion, exact decimal ('' when absent). */
  clientVersion: string;
  /** Normalised: `Android`, `iOS`, `Web`, the provider's spelling of anything else, `Unknown` when absent. */
  platform: string;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badResponse(message: string, retryable = false): ProviderError {
  return providerError('ERR_PROVIDER_BAD_RESPONSE', `Volcengine QueryOnlineStatus answer not understood: ${message}`, {
    provider: 'volcengine',
    retryable,
  });
}

// One spelling each keeps `platforms` comparable between polls, so a respelling is not a transition.
const PLATFORMS = new Map<string, string>([
  ['android', 'Android'],
  ['ios', 'iOS'],
  ['web', 'Web'],
]);

/** The canonical spelling of a Volcengine platform name; unknown names are returned as given. */
export function normalisePlatform(name: string): string {
  return PLATFORMS.get(name.toLowerCase()) ?? name;
}

// Said for a connection that names no platform, so that it is still counted.
const NO_PLATFORM = 'Unknown';

/**
 * An int64 field of a connection. parseJsonWithInt64 turned integer literals into strings; what is
 * still a number (`1.5`, `1e3`) could not be kept exact, so it is refused rather than rounded.
 */
function int64Field(entry: Json, field: string, where: string): string {
  const value = entry[field];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string' || !/^-?\d+$/.test(value))
    throw badResponse(`${field} of ${where} is ${show(value)}, not an integer`);
  return value;
}

function parseConnection(key: string, entry: unknown): VolcConnection {
  const where = `a connection of ${show(key)}`;
  if (!isObject(entry)) throw badResponse(`${where} is not an object: ${show(entry)}`);
  const { UserId: userId, ConnId: connId, Platform: platform } = entry;
  // The map key is the user; a connection claiming another user means the answer is not what it seems.
  if (userId !== key) throw badResponse(`${where} has UserId ${show(userId)}`);
  if (connId !== undefined && connId !== null && typeof connId !== 'string')
    throw badResponse(`ConnId of ${where} is ${show(connId)}`);
  if (platform !== undefined && platform !== null && typeof platform !== 'string')
    throw badResponse(`Platform of ${where} is ${show(platform)}`);
  return {
    connId: connId ?? '',
    userId: key,
    deviceId: int64Field(entry, 'DeviceId', where),
    clientVersion: int64Field(entry, 'ClientVersion', where),
    platform:
      platform === undefined || platform === null || platform === '' ? NO_PLATFORM : normalisePlatform(platform),
  };
}

/**
 * Parses a QueryOnlineStatus answer into user ID → connections (only users the provider listed).
 * Throws the mapped ProviderError for an Error envelope (whatever the HTTP status) or a non-200
 * status, and ERR_PROVIDER_BAD_RESPONSE for anything it cannot understand.
 */
export function parseQueryOnlineStatus(text: string, httpStatus: number, appId: string): Map<string, VolcConnection[]> {
  let body: unknown;
  try {
    body = parseJsonWithInt64(text);
  } catch {
    if (httpStatus !== 200) throw volcengineError({ httpStatus, appId });
    // Not JSON at all (cut off, a gateway's error page): transient, so retried.
    throw badResponse(`the body is not JSON: ${show(text)}`, true);
  }
  const metadata = isObject(body) ? body.ResponseMetadata : undefined;
  const error = isObject(metadata) ? metadata.Error : undefined;
  if (error !== undefined && error !== null) {
    if (!isObject(error)) throw volcengineError({ message: show(error), httpStatus, appId });
    const { Code: code, CodeN: codeN, Message: message } = error;
    throw volcengineError({
      ...(typeof code === 'string' && code !== '' ? { code } : {}),
      ...(typeof codeN === 'number' && Number.isInteger(codeN) ? { codeN } : {}),
      message: typeof message === 'string' ? message : '',
      httpStatus,
      appId,
    });
  }
  if (httpStatus !== 200) throw volcengineError({ httpStatus, appId });
  if (!isObject(body)) throw badResponse(`the body is not a JSON object: ${show(body)}`);
  const result = body.Result;
  if (!isObject(result)) throw badResponse(`Result is ${show(result)}, not an object`);
  const online = new Map<string, VolcConnection[]>();
  const map = result.QueryOnlineResults;
  // A Result without the map says that nobody asked about is online.
  if (map === undefined || map === null) return online;
  if (!isObject(map)) throw badResponse(`QueryOnlineResults is ${show(map)}, not an object`);
  for (const [key, value] of Object.entries(map)) {
    if (!isInt64Id(key)) throw badResponse(`QueryOnlineResults key ${show(key)} is not a user ID`);
    if (value === null) {
      online.set(key, []);
      continue;
    }
    if (!Array.isArray(value)) throw badResponse(`connections of ${show(key)} are ${show(value)}, not an array`);
    online.set(
      key,
      value.map((entry) => parseConnection(key, entry)),
    );
  }
  return online;
}

/**
 * The observations for `requested`: `Online` with at least one connection, else `Offline` (the
 * provider documents a missing user as offline). With `detail`, `platforms` counts connections per
 * platform; users not requested are ignored.
 */
export function toStateQueryResult(
  requested: readonly string[],
  online: Map<string, VolcConnection[]>,
  detail: boolean,
): StateQueryResult {
  const observations: Observation[] = [];
  const seen = new Set<string>();
  for (const userId of requested) {
    // One observation per user even if the caller listed one twice.
    if (seen.has(userId)) continue;
    seen.add(userId);
    const connections = online.get(userId) ?? [];
    let platforms: Record<string, number> | null = null;
    if (detail) {
      const counts = new Map<string, number>();
      for (const { platform } of connections) counts.set(platform, (counts.get(platform) ?? 0) + 1);
      // Sorted so the same connections always give the same object; fromEntries also keeps a
      // platform named `__proto__` as data rather than a prototype.
      platforms = Object.fromEntries([...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    observations.push({ userId, state: connections.length > 0 ? 'Online' : 'Offline', platforms });
  }
  return { observations, missingAccounts: [], accountErrors: [] };
}
