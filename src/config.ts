// The one config module: the environment is read once, validated at startup, and handed down as a
// typed object. Every error names the variable to set. Secrets are reachable only through
// functions, so logging or serialising the config cannot leak them.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './errors.js';

/** Which Tencent API answers the online state (the seeds' name, or Tencent's current one). */
export type TencentStateApi = 'querystate' | 'query_online_status';

/** Settings of the Tencent Cloud IM provider. */
export interface TencentConfig {
  /** App admin identifier that signs REST calls (`TIM_ADMIN`). */
  admin: string;
  /** Base URL of the REST API (`TIM_ENDPOINT`). */
  endpoint: string;
  /** `querystate` or `query_online_status` (`TIM_STATE_API`). */
  stateApi: TencentStateApi;
  /** Ceiling for the state API, calls per sliding 1000 ms per app (`TIM_QUERYSTATE_RPS`). */
  querystateRps: number;
  /** Ceiling for account_check, calls per sliding 1000 ms per app (`TIM_ACCOUNT_CHECK_RPS`). */
  accountCheckRps: number;
  /** The secret key of an app: `TIM_SECRET_KEY_<SDKAPPID>`, else `TIM_SECRET_KEY` (or their `_FILE`). Throws ConfigError naming both. */
  secretKeyFor(sdkAppId: string): string;
  /** True when a secret key is configured for the app. */
  hasSecretKeyFor(sdkAppId: string): boolean;
}

/** HTTP timeouts of every provider call. */
export interface HttpConfig {
  /** TCP/TLS connect timeout, ms (`PRESENCE_CONNECT_TIMEOUT_MS`). */
  connectTimeoutMs: number;
  /** Time to response headers, ms (`PRESENCE_HEADERS_TIMEOUT_MS`). */
  headersTimeoutMs: number;
  /** Idle time between body chunks, ms (`PRESENCE_BODY_TIMEOUT_MS`). */
  bodyTimeoutMs: number;
  /** Most calls in flight per app (`PRESENCE_CONCURRENCY`); the rate ceiling still applies. */
  concurrency: number;
}

/** Everything the process needs, read once at startup. */
export interface Config {
  /** Postgres connection string (`DATABASE_URL`); undefined means the embedded PGlite. */
  databaseUrl: string | undefined;
  /** Folder of the embedded database (`PRESENCE_DATA_DIR`), absolute. */
  dataDir: string;
  /** pino level (`LOG_LEVEL`). */
  logLevel: string;
  /** How often the daemon re-reads watch sets, ms (`PRESENCE_RELOAD_MS`). */
  reloadIntervalMs: number;
  /** How long shutdown waits for in-flight batches before aborting them, ms (`PRESENCE_SHUTDOWN_MS`). */
  shutdownTimeoutMs: number;
  tencent: TencentConfig;
  http: HttpConfig;
}

type Env = Record<string, string | undefined>;

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigError(name, `${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function url(env: Env, name: string, fallback: string): string {
  const raw = env[name]?.trim() || fallback;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch (cause) {
    throw new ConfigError(name, `${name} must be a URL such as ${fallback}, got ${JSON.stringify(raw)}`, { cause });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(name, `${name} must be an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/+$/, '');
}

/** Reads a secret from `NAME`, or from the file named by `NAME_FILE`. */
function secret(env: Env, name: string): string | undefined {
  const direct = env[name];
  if (direct !== undefined && direct !== '') return direct;
  const file = env[`${name}_FILE`];
  if (file === undefined || file === '') return undefined;
  try {
    const value = readFileSync(file, 'utf8').trim();
    return value === '' ? undefined : value;
  } catch (cause) {
    throw new ConfigError(`${name}_FILE`, `${name}_FILE names ${file}, which cannot be read`, { cause });
  }
}

/** Reads and validates the environment. Throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const stateApi = env.TIM_STATE_API?.trim() || 'querystate';
  if (stateApi !== 'querystate' && stateApi !== 'query_online_status') {
    throw new ConfigError('TIM_STATE_API', `TIM_STATE_API must be querystate or query_online_status, got ${JSON.stringify(stateApi)}`);
  }
  const admin = env.TIM_ADMIN?.trim() || 'administrator';
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'DATABASE_URL must be a postgres:// or postgresql:// connection string');
  }
  // Read secrets eagerly so a bad *_FILE fails at startup, but keep them out of the returned object.
  const secrets = new Map<string, string>();
  for (const name of Object.keys(env)) {
    const m = /^TIM_SECRET_KEY(?:_(\d+))?(?:_FILE)?$/.exec(name);
    if (!m) continue;
    const key = m[1] ?? '';
    if (secrets.has(key)) continue;
    const value = secret(env, key === '' ? 'TIM_SECRET_KEY' : `TIM_SECRET_KEY_${key}`);
    if (value !== undefined) secrets.set(key, value);
  }
  const tencent: TencentConfig = {
    admin,
    endpoint: url(env, 'TIM_ENDPOINT', 'https://console.tim.qq.com'),
    stateApi,
    querystateRps: positiveInt(env, 'TIM_QUERYSTATE_RPS', 100),
    accountCheckRps: positiveInt(env, 'TIM_ACCOUNT_CHECK_RPS', 100),
    hasSecretKeyFor: (sdkAppId) => secrets.has(sdkAppId) || secrets.has(''),
    secretKeyFor(sdkAppId) {
      const value = secrets.get(sdkAppId) ?? secrets.get('');
      if (value === undefined) {
        throw new ConfigError(`TIM_SECRET_KEY_${sdkAppId}`, `Set TIM_SECRET_KEY or TIM_SECRET_KEY_${sdkAppId} (the secret key of Tencent IM app ${sdkAppId})`);
      }
      return value;
    },
  };
  return {
    databaseUrl,
    dataDir: resolve(env.PRESENCE_DATA_DIR?.trim() || './data'),
    logLevel: env.LOG_LEVEL?.trim() || 'info',
    reloadIntervalMs: positiveInt(env, 'PRESENCE_RELOAD_MS', 30_000),
    shutdownTimeoutMs: positiveInt(env, 'PRESENCE_SHUTDOWN_MS', 8_000),
    tencent,
    http: {
      connectTimeoutMs: positiveInt(env, 'PRESENCE_CONNECT_TIMEOUT_MS', 5_000),
      headersTimeoutMs: positiveInt(env, 'PRESENCE_HEADERS_TIMEOUT_MS', 10_000),
      bodyTimeoutMs: positiveInt(env, 'PRESENCE_BODY_TIMEOUT_MS', 10_000),
      concurrency: positiveInt(env, 'PRESENCE_CONCURRENCY', 32),
    },
  };
}
