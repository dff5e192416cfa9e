// Validating parser for Volcengine QueryOnlineStatus answers. Nothing from the wire is trusted: every
// field is narrowed from `unknown`, and an answer that cannot be understood is a ProviderError rather
// than a guess, because a wrong guess would be recorded as a state transition. The int64 fields
// (UserId, DeviceId, ClientVersion, AppId) are read as exact bigints, never as JS numbers.
//
// This answer says "Offline" by leaving a user out, so what counts as an answer at all decides
// whether users are recorded Offline: only a Result that names the app asked about (Result.AppId)
// may say that nobody is online, by an empty or missing QueryOnlineResults. `{"Result":{}}` names no
// app and is refused: it may be a gateway's or a stub's empty object, and reading it would end
// every online user's session (docs/history.md, "What a Volcengine answer says").
import { providerError, type ProviderError } from '../../errors.js';
import { MAX_PLATFORMS, platformsOf, platformTextProblem } from '../answer.js';
import { clipText, show } from '../http.js';
import { JsonTextError, parseStrictJson } from '../../strict-json.js';
import type { Observation } from '../../model.js';
import type { StateQueryResult } from '../types.js';
import { volcengineError } from './errors.js';
import { isInt64Id } from './int64-json.js';

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

/** The keys the provider sends as int64 numbers, read as bigints. */
const INT64_KEYS: ReadonlySet<string> = new Set(['UserId', 'DeviceId', 'ClientVersion', 'AppId']);

/**
 * An int64 value as exact decimal text: a bigint (an integer literal of an int64 key), or a string
 * of digits (the same number, quoted). A JS number (`1.5`, `1e3`) could not be kept exact, so it is
 * undefined, as is anything else.
 */
function int64Text(value: unknown): string | undefined {
  if (typeof value === 'bigint') return String(value);
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return value;
  return undefined;
}

/** An optional int64 field of a connection: '' when absent. */
function int64Field(entry: Json, field: string, where: string): string {
  const value = entry[field];
  if (value === undefined) return '';
  const text = int64Text(value);
  if (text === undefined) throw badResponse(`${field} of ${where} is ${show(value)}, not an integer`);
  return text;
}

function parseConnection(key: string, entry: unknown): VolcConnection {
  const where = `a connection of ${show(key)}`;
  if (!isObject(entry)) throw badResponse(`${where} is not an object: ${show(entry)}`);
  const { UserId: userId, ConnId: connId, Platform: platform } = entry;
  // The map key is the user; a connection claiming another user means the answer is not what it seems.
  if (int64Text(userId) !== key) throw badResponse(`${where} has UserId ${show(userId)}`);
  // Go encodes a missing string as "", never null: a null is not this provider's answer.
  if (connId !== undefined && typeof connId !== 'string') throw badResponse(`ConnId of ${where} is ${show(connId)}`);
  if (platform !== undefined && typeof platform !== 'string')
    throw badResponse(`Platform of ${where} is ${show(platform)}`);
  if (platform !== undefined && platform !== '') {
    // Stored on every row of the user: a 20 kB name, or a NUL that jsonb cannot hold, is not a platform.
    const problem = platformTextProblem(platform);
    if (problem !== undefined) throw badResponse(`Platform of ${where} ${problem}: ${show(platform)}`);
  }
  return {
    connId: connId ?? '',
    userId: key,
    deviceId: int64Field(entry, 'DeviceId', where),
    clientVersion: int64Field(entry, 'ClientVersion', where),
    platform: platform === undefined || platform === '' ? NO_PLATFORM : normalisePlatform(platform),
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
    body = parseStrictJson(text, { bigintKeys: INT64_KEYS });
  } catch (err) {
    if (httpStatus !== 200) throw volcengineError({ httpStatus, appId });
    // A key given twice (a Go map cannot have one, so no encoder of this provider wrote it) or
    // absurd nesting: JSON, but not an answer.
    if (err instanceof JsonTextError && err.problem !== 'syntax') throw badResponse(`the body has ${err.message}`);
    // Not JSON at all (cut off, a gateway's error page): transient, so retried.
    throw badResponse(`the body is not JSON: ${show(text)}`, true);
  }
  const metadata = isObject(body) ? body.ResponseMetadata : undefined;
  const error = isObject(metadata) ? metadata.Error : undefined;
  if (error !== undefined && error !== null) {
    if (!isObject(error)) throw volcengineError({ message: show(error), httpStatus, appId });
    const { Code: code, CodeN: codeN, Message: message } = error;
    throw volcengineError({
      // The provider's own text reaches the log and poll_cycle.error: cut short, control characters out.
      ...(typeof code === 'string' && code !== '' ? { code: clipText(code, 100) } : {}),
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
  // Only an answer for the app asked about may say who is not online (see the top of this file).
  if (int64Text(result.AppId) !== appId) {
    throw badResponse(
      `Result.AppId is ${show(result.AppId)}, not the app asked about (${appId}); without it an answer cannot be told from an empty object`,
    );
  }
  const online = new Map<string, VolcConnection[]>();
  const map = result.QueryOnlineResults;
  // A Result for our app without the map (Go's omitempty), or with null (Go's nil map), says that
  // nobody asked about is online.
  if (map === undefined || map === null) return online;
  if (!isObject(map)) throw badResponse(`QueryOnlineResults is ${show(map)}, not an object`);
  for (const [key, value] of Object.entries(map)) {
    if (!isInt64Id(key)) throw badResponse(`QueryOnlineResults key ${show(key)} is not a user ID`);
    // Go's nil slice: no connection.
    if (value === null) {
      online.set(key, []);
      continue;
    }
    if (!Array.isArray(value)) throw badResponse(`connections of ${show(key)} are ${show(value)}, not an array`);
    const connections = value.map((entry) => parseConnection(key, entry));
    const ids = connections.map((c) => c.connId).filter((id) => id !== '');
    // One connection listed twice would be counted twice in the platforms.
    if (new Set(ids).size !== ids.length) throw badResponse(`a ConnId of ${show(key)} is listed twice`);
    online.set(key, connections);
  }
  return online;
}

/**
 * The observations for `requested`: `Online` with at least one connection, else `Offline` (the
 * provider documents a missing user as offline). With `detail`, `platforms` counts connections per
 * platform. An answer listing a user not requested is refused: it may answer another request, and
 * its silence about our users would then be read as Offline.
 */
export function toStateQueryResult(
  requested: readonly string[],
  online: Map<string, VolcConnection[]>,
  detail: boolean,
): StateQueryResult {
  const asked = new Set(requested);
  for (const key of online.keys())
    if (!asked.has(key)) throw badResponse(`QueryOnlineResults lists user ${show(key)}, who was not asked about`);
  const observations: Observation[] = [];
  // One observation per user even if the caller listed one twice.
  for (const userId of asked) {
    const connections = online.get(userId) ?? [];
    let platforms: Record<string, number> | null = null;
    if (detail) {
      const counts = new Map<string, number>();
      for (const { platform } of connections) counts.set(platform, (counts.get(platform) ?? 0) + 1);
      if (counts.size > MAX_PLATFORMS)
        throw badResponse(`connections of ${show(userId)} name more than ${MAX_PLATFORMS} platforms`);
      // Sorted so the same connections always give the same object; a platform named `__proto__` stays data.
      platforms = platformsOf(counts) as Record<string, number>;
    }
    observations.push({ userId, state: connections.length > 0 ? 'Online' : 'Offline', platforms });
  }
  return { observations, missingAccounts: [], accountErrors: [] };
}
