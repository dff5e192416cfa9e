// The one config module: the environment is read once, validated at startup, and handed down as a
// typed object. Every error names the variable to set. Secrets are reachable only through
// functions, so logging or serialising the config cannot leak them. One piece, past 300 lines: every
// variable is read and checked here, so that one file answers "what does the daemon read".
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './errors.js';
import type { ProviderName } from './model.js';

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
  /** The variable the app's key comes from (`TIM_SECRET_KEY_<app>_FILE`...), or what to set when there is none. */
  secretKeySettingFor(sdkAppId: string): string;
}

/** Access key pair of a Volcengine account. */
export interface VolcengineCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Settings of the Volcengine provider. */
export interface VolcengineConfig {
  /** Base URL of the OpenAPI gateway (`VOLC_ENDPOINT`). */
  endpoint: string;
  /** Signing region (`VOLC_REGION`). */
  region: string;
  /** Ceiling per account (access key), all its apps together, calls per sliding 1000 ms (`VOLC_RPS`). */
  rps: number;
  /** The account of an app: `VOLC_ACCESS_KEY_ID_<APPID>` + `VOLC_SECRET_ACCESS_KEY_<APPID>`, else the unsuffixed pair. Throws ConfigError naming them. */
  credentialsFor(appId: string): VolcengineCredentials;
  /** True when credentials are configured for the app. */
  hasCredentialsFor(appId: string): boolean;
}

/** HTTP timeouts of every provider call. */
export interface HttpConfig {
  /** TCP/TLS connect timeout, ms (`PRESENCE_CONNECT_TIMEOUT_MS`). */
  connectTimeoutMs: number;
  /** Time to response headers, ms (`PRESENCE_HEADERS_TIMEOUT_MS`). */
  headersTimeoutMs: number;
  /** Idle time between body chunks, ms (`PRESENCE_BODY_TIMEOUT_MS`). */
  bodyTimeoutMs: number;
  /** Most calls in flight per rate bucket (`PRESENCE_CONCURRENCY`): the pool's connections; the poller keeps rate × latency in flight, up to this. */
  concurrency: number;
  /** Space call starts evenly at the ceiling instead of a window's worth at once (`PRESENCE_PACE_CALLS`, 1 or 0). @default true */
  paceCalls: boolean;
  /** PEM certificates trusted for provider HTTPS besides the system's, read from `PRESENCE_CA_FILE` at startup. @default undefined (the system's only) */
  ca?: string | undefined;
}

/** The Tencent State.StateChange callback receiver (off unless `PRESENCE_CALLBACK_LISTEN` is set). */
export interface CallbackConfig {
  /** Where the receiver listens (`PRESENCE_CALLBACK_LISTEN`, `host:port`; a bare port is on 127.0.0.1); undefined: no receiver. */
  listen: { host: string; port: number } | undefined;
  /** True when `PRESENCE_CALLBACK_LISTEN` is a bare port, which meant every interface in earlier versions and means loopback now: the daemon warns at start. */
  barePort: boolean;
  /** URL path the receiver answers on (`PRESENCE_CALLBACK_PATH`). */
  path: string;
  /** Largest callback body accepted, bytes (`PRESENCE_CALLBACK_MAX_BYTES`). */
  maxBodyBytes: number;
  /** The callback authentication token of the IM console (`TIM_CALLBACK_TOKEN` or its `_FILE`). Throws ConfigError when unset. */
  token(): string;
}

/** Everything the process needs, read once at startup. */
export interface Config {
  /** Postgres connection string (`DATABASE_URL`, or the file named by `DATABASE_URL_FILE`); undefined means the embedded PGlite. */
  databaseUrl: string | undefined;
  /** Folder of the embedded database (`PRESENCE_DATA_DIR`), absolute. */
  dataDir: string;
  /** Prepare the diff statement once per Postgres connection (`PRESENCE_PREPARED_STATEMENTS`, 1 or 0). @default true */
  preparedStatements: boolean;
  /** pino level (`LOG_LEVEL`). */
  logLevel: string;
  /** How often the daemon re-reads watch sets, ms (`PRESENCE_RELOAD_MS`). */
  reloadIntervalMs: number;
  /** How long shutdown waits for in-flight batches before aborting them, ms (`PRESENCE_SHUTDOWN_MS`). */
  shutdownTimeoutMs: number;
  /** Every configured secret value (Tencent keys, Volcengine secret keys, the callback token, the database password), for the logger to scrub from any line. */
  secretsForRedaction(): string[];
  /** Where /metrics and /healthz listen (`PRESENCE_HTTP`, `host:port`); null when `off`. */
  operationsHttp: { host: string; port: number } | null;
  tencent: TencentConfig;
  volcengine: VolcengineConfig;
  http: HttpConfig;
  callbacks: CallbackConfig;
}

/**
 * Every default of the configuration, in one place (docs/configuration.md lists them; a test
 * checks that it does). Schedules' defaults are the watch sets' own (src/store/watch-sets.ts).
 */
export const DEFAULTS = {
  /** `PRESENCE_DATA_DIR`: the embedded database's folder, relative to the working directory. */
  dataDir: './data',
  /** `PRESENCE_PREPARED_STATEMENTS`: prepare the diff statement per connection (0 behind a pooler that cannot keep them). */
  preparedStatements: true,
  /** `LOG_LEVEL` of `presence run` (other commands log warnings and up to stderr). */
  logLevel: 'info',
  /** `PRESENCE_RELOAD_MS`: how often the daemon re-reads the watch sets. */
  reloadIntervalMs: 30_000,
  /** `PRESENCE_SHUTDOWN_MS`: how long a stop waits for calls in flight before aborting them. */
  shutdownTimeoutMs: 8_000,
  /** `PRESENCE_HTTP`: where /metrics and /healthz listen. */
  operationsHttp: '127.0.0.1:9464',
  /** `TIM_ADMIN`: the App admin identifier. */
  timAdmin: 'administrator',
  /** `TIM_ENDPOINT`: Tencent IM's REST base URL (China). */
  timEndpoint: 'https://console.tim.qq.com',
  /** `TIM_STATE_API`: the seeds' name of the state API. */
  timStateApi: 'querystate',
  /** `TIM_QUERYSTATE_RPS`: the state API's ceiling per app (the Chinese seed's 100 calls/s). */
  timQuerystateRps: 100,
  /** `TIM_ACCOUNT_CHECK_RPS`: account_check's ceiling per app. */
  timAccountCheckRps: 100,
  /** `VOLC_ENDPOINT`: Volcengine's OpenAPI gateway. */
  volcEndpoint: 'https://rtc.volcengineapi.com',
  /** `VOLC_REGION`: the signing region. */
  volcRegion: 'cn-north-1',
  /** `VOLC_RPS`: the ceiling per Volcengine account, all its apps together. */
  volcRps: 100,
  /** `PRESENCE_CONNECT_TIMEOUT_MS`. */
  connectTimeoutMs: 5_000,
  /** `PRESENCE_HEADERS_TIMEOUT_MS`. */
  headersTimeoutMs: 10_000,
  /** `PRESENCE_BODY_TIMEOUT_MS`. */
  bodyTimeoutMs: 10_000,
  /** `PRESENCE_CONCURRENCY`: most calls in flight per rate bucket (rate × latency are kept in flight, up to this). */
  concurrency: 256,
  /** `PRESENCE_PACE_CALLS`: space call starts evenly (docs/benchmarks.md). */
  paceCalls: true,
  /** `PRESENCE_CALLBACK_PATH`. */
  callbackPath: '/tim/callback',
  /** `PRESENCE_CALLBACK_MAX_BYTES`: a State.StateChange body is a few hundred bytes. */
  callbackMaxBytes: 64 * 1024,
} as const;

type Env = Record<string, string | undefined>;

/** A 0/1 (or false/true) switch. */
function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw new ConfigError(name, `${name} must be 1 or 0, got ${JSON.stringify(raw)}`);
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigError(name, `${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** True for a loopback host as URL spells it: localhost, 127.0.0.0/8, [::1]. */
function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * A provider base URL: https, or plain http to a loopback host only (the simulator, tests).
 * `carries` says what travels with every call, for the error that refuses plain http elsewhere.
 */
function url(env: Env, name: string, fallback: string, carries: string): string {
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
  if (parsed.protocol === 'http:' && !isLoopback(parsed.hostname)) {
    throw new ConfigError(
      name,
      `${name} must be https (plain http only to localhost, 127.0.0.0/8 or [::1]): ${carries}, which anyone on the way could read and reuse; got ${JSON.stringify(raw)}`,
    );
  }
  return raw.replace(/\/+$/, '');
}

/**
 * A listener address: `host:port`, `[v6]:port` or a bare port (on `defaultHost`); null for `off`,
 * or when unset and there is no `fallback` (the listener is off by default).
 */
function listenAddress(
  env: Env,
  name: string,
  options: { fallback?: string; defaultHost: string; example: string },
): { host: string; port: number } | null {
  const raw = env[name]?.trim() || options.fallback;
  if (raw === undefined || raw.toLowerCase() === 'off') return null;
  const match = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(raw);
  const port = Number(match?.[2]);
  if (!match || port > 65_535)
    throw new ConfigError(
      name,
      `${name} must be host:port such as ${options.example}, a port, or off; got ${JSON.stringify(raw)}`,
    );
  const host = match[1] ?? options.defaultHost;
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port };
}

/** A secret and the variable it came from (`NAME`, or `NAME_FILE` naming a file that holds it). */
interface Secret {
  value: string;
  variable: string;
}

/** The PEM certificates in the file `PRESENCE_CA_FILE` names, or undefined when it is unset. */
function caFile(env: Env): string | undefined {
  const file = env['PRESENCE_CA_FILE'];
  if (file === undefined || file.trim() === '') return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError('PRESENCE_CA_FILE', `PRESENCE_CA_FILE names ${file}, which cannot be read`, { cause });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new ConfigError(
      'PRESENCE_CA_FILE',
      `PRESENCE_CA_FILE names ${file}, which holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
  return pem;
}

/** Reads a secret from `NAME`, or from the file named by `NAME_FILE`. */
function secretWithSource(env: Env, name: string): Secret | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  const hasDirect = direct !== undefined && direct.trim() !== '';
  const hasFile = file !== undefined && file.trim() !== '';
  // Which one wins would be a guess: an operator who moved the secret to a file and left the old
  // variable would keep using the old value without knowing.
  if (hasDirect && hasFile)
    throw new ConfigError(
      name,
      `${name} and ${name}_FILE are both set: keep one (${name}_FILE keeps the secret out of the environment and of a PM2 dump)`,
    );
  if (hasDirect) return { value: direct, variable: name };
  if (!hasFile) return undefined;
  try {
    const value = readFileSync(file, 'utf8').trim();
    return value === '' ? undefined : { value, variable: `${name}_FILE` };
  } catch (cause) {
    throw new ConfigError(`${name}_FILE`, `${name}_FILE names ${file}, which cannot be read`, { cause });
  }
}

/** Reads a secret from `NAME`, or from the file named by `NAME_FILE`. */
function secret(env: Env, name: string): string | undefined {
  return secretWithSource(env, name)?.value;
}

/** `NAME` and `NAME_<APPID>` (or their `_FILE`), keyed by the app ID suffix ('' for the unsuffixed one). */
function secretFamily(env: Env, name: string): Map<string, string> {
  return new Map([...secretFamilyWithSources(env, name)].map(([suffix, s]) => [suffix, s.value]));
}

/** secretFamily, with the variable each value came from. */
function secretFamilyWithSources(env: Env, name: string): Map<string, Secret> {
  const values = new Map<string, Secret>();
  const pattern = new RegExp(`^${name}(?:_(\\d+))?(?:_FILE)?$`);
  for (const variable of Object.keys(env)) {
    const match = pattern.exec(variable);
    if (!match) continue;
    const suffix = match[1] ?? '';
    if (values.has(suffix)) continue;
    const value = secretWithSource(env, suffix === '' ? name : `${name}_${suffix}`);
    if (value !== undefined) values.set(suffix, value);
  }
  return values;
}

// Both listeners default to loopback: a public bind is written out (0.0.0.0:8080), never implied.
function callbackConfig(env: Env): CallbackConfig {
  const listen =
    listenAddress(env, 'PRESENCE_CALLBACK_LISTEN', { defaultHost: '127.0.0.1', example: '0.0.0.0:8080' }) ?? undefined;
  const path = env.PRESENCE_CALLBACK_PATH?.trim() || DEFAULTS.callbackPath;
  if (!/^\/[A-Za-z0-9._~/-]*$/.test(path)) {
    throw new ConfigError(
      'PRESENCE_CALLBACK_PATH',
      `PRESENCE_CALLBACK_PATH must be a URL path such as /tim/callback, got ${JSON.stringify(path)}`,
    );
  }
  const token = secret(env, 'TIM_CALLBACK_TOKEN');
  if (listen !== undefined && token === undefined) {
    throw new ConfigError(
      'TIM_CALLBACK_TOKEN',
      'PRESENCE_CALLBACK_LISTEN is set: set TIM_CALLBACK_TOKEN (or TIM_CALLBACK_TOKEN_FILE) to the callback authentication token of the IM console',
    );
  }
  return {
    listen,
    barePort: listen !== undefined && /^\d+$/.test(env.PRESENCE_CALLBACK_LISTEN?.trim() ?? ''),
    path,
    maxBodyBytes: positiveInt(env, 'PRESENCE_CALLBACK_MAX_BYTES', DEFAULTS.callbackMaxBytes),
    token() {
      if (token === undefined)
        throw new ConfigError(
          'TIM_CALLBACK_TOKEN',
          'Set TIM_CALLBACK_TOKEN (or TIM_CALLBACK_TOKEN_FILE) to the callback authentication token of the IM console',
        );
      return token;
    },
  };
}

/** The levels pino accepts, and `silent`. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function logLevel(env: Env): string {
  const raw = env.LOG_LEVEL?.trim().toLowerCase() || DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
    throw new ConfigError(
      'LOG_LEVEL',
      `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(env.LOG_LEVEL)}`,
    );
  }
  return raw;
}

/** The password of DATABASE_URL as written and decoded, and PGPASSWORD (which pg reads when the URL has none). */
function databasePasswords(databaseUrl: string | undefined, env: Env): string[] {
  let raw = '';
  try {
    raw = databaseUrl === undefined ? '' : new URL(databaseUrl).password;
  } catch {
    // Not a URL pg can read either; nothing to hide.
  }
  const out = [env.PGPASSWORD ?? '', raw];
  try {
    out.push(decodeURIComponent(raw));
  } catch {
    // Not percent-encoding after all: the raw form is the one that can appear.
  }
  return out.filter((p) => p !== '');
}

/** Reads and validates the environment. Throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const stateApi = env.TIM_STATE_API?.trim() || DEFAULTS.timStateApi;
  if (stateApi !== 'querystate' && stateApi !== 'query_online_status') {
    throw new ConfigError(
      'TIM_STATE_API',
      `TIM_STATE_API must be querystate or query_online_status, got ${JSON.stringify(stateApi)}`,
    );
  }
  const admin = env.TIM_ADMIN?.trim() || DEFAULTS.timAdmin;
  // DATABASE_URL_FILE: a URL with a password need not sit in the environment (nor in dump.pm2).
  const databaseUrlSource = secretWithSource(env, 'DATABASE_URL');
  const databaseUrl = databaseUrlSource?.value.trim() || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const variable = databaseUrlSource?.variable ?? 'DATABASE_URL';
    throw new ConfigError(
      variable,
      variable === 'DATABASE_URL'
        ? 'DATABASE_URL must be a postgres:// or postgresql:// connection string'
        : 'DATABASE_URL_FILE must name a file holding a postgres:// or postgresql:// connection string',
    );
  }
  // Read secrets eagerly so a bad *_FILE fails at startup, but keep them out of the returned object.
  const timKeySources = secretFamilyWithSources(env, 'TIM_SECRET_KEY');
  const timKeys = new Map([...timKeySources].map(([suffix, s]) => [suffix, s.value]));
  const volcIds = secretFamily(env, 'VOLC_ACCESS_KEY_ID');
  const volcKeys = secretFamily(env, 'VOLC_SECRET_ACCESS_KEY');
  const volcFor = (appId: string): VolcengineCredentials | undefined => {
    // A per-app pair is used only whole, so an app never mixes one account's ID with another's key.
    for (const suffix of [appId, '']) {
      const accessKeyId = volcIds.get(suffix);
      const secretAccessKey = volcKeys.get(suffix);
      if (accessKeyId !== undefined && secretAccessKey !== undefined) return { accessKeyId, secretAccessKey };
    }
    return undefined;
  };
  const volcengine: VolcengineConfig = {
    endpoint: url(
      env,
      'VOLC_ENDPOINT',
      DEFAULTS.volcEndpoint,
      'every call carries the access key ID and a signature in its headers, and the user IDs',
    ),
    region: env.VOLC_REGION?.trim() || DEFAULTS.volcRegion,
    rps: positiveInt(env, 'VOLC_RPS', DEFAULTS.volcRps),
    hasCredentialsFor: (appId) => volcFor(appId) !== undefined,
    credentialsFor(appId) {
      const found = volcFor(appId);
      if (!found) {
        throw new ConfigError(
          'VOLC_ACCESS_KEY_ID',
          `Set VOLC_ACCESS_KEY_ID and VOLC_SECRET_ACCESS_KEY (or VOLC_ACCESS_KEY_ID_${appId} and VOLC_SECRET_ACCESS_KEY_${appId}) for Volcengine app ${appId}`,
        );
      }
      return found;
    },
  };
  const tencent: TencentConfig = {
    admin,
    endpoint: url(
      env,
      'TIM_ENDPOINT',
      DEFAULTS.timEndpoint,
      'every call carries the admin UserSig (an admin credential) in its query string',
    ),
    stateApi,
    querystateRps: positiveInt(env, 'TIM_QUERYSTATE_RPS', DEFAULTS.timQuerystateRps),
    accountCheckRps: positiveInt(env, 'TIM_ACCOUNT_CHECK_RPS', DEFAULTS.timAccountCheckRps),
    hasSecretKeyFor: (sdkAppId) => timKeys.has(sdkAppId) || timKeys.has(''),
    secretKeySettingFor: (sdkAppId) =>
      (timKeySources.get(sdkAppId) ?? timKeySources.get(''))?.variable ??
      `TIM_SECRET_KEY or TIM_SECRET_KEY_${sdkAppId}`,
    secretKeyFor(sdkAppId) {
      const value = timKeys.get(sdkAppId) ?? timKeys.get('');
      if (value === undefined) {
        throw new ConfigError(
          `TIM_SECRET_KEY_${sdkAppId}`,
          `Set TIM_SECRET_KEY or TIM_SECRET_KEY_${sdkAppId} (the secret key of Tencent IM app ${sdkAppId})`,
        );
      }
      return value;
    },
  };
  return {
    databaseUrl,
    dataDir: resolve(env.PRESENCE_DATA_DIR?.trim() || DEFAULTS.dataDir),
    preparedStatements: flag(env, 'PRESENCE_PREPARED_STATEMENTS', DEFAULTS.preparedStatements),
    logLevel: logLevel(env),
    reloadIntervalMs: positiveInt(env, 'PRESENCE_RELOAD_MS', DEFAULTS.reloadIntervalMs),
    shutdownTimeoutMs: positiveInt(env, 'PRESENCE_SHUTDOWN_MS', DEFAULTS.shutdownTimeoutMs),
    secretsForRedaction: () =>
      [
        secret(env, 'TIM_CALLBACK_TOKEN') ?? '',
        ...timKeys.values(),
        ...volcKeys.values(),
        ...databasePasswords(databaseUrl, env),
      ].filter((value) => value !== ''),
    operationsHttp: listenAddress(env, 'PRESENCE_HTTP', {
      fallback: DEFAULTS.operationsHttp,
      defaultHost: '127.0.0.1',
      example: '127.0.0.1:9464',
    }),
    tencent,
    volcengine,
    http: {
      connectTimeoutMs: positiveInt(env, 'PRESENCE_CONNECT_TIMEOUT_MS', DEFAULTS.connectTimeoutMs),
      headersTimeoutMs: positiveInt(env, 'PRESENCE_HEADERS_TIMEOUT_MS', DEFAULTS.headersTimeoutMs),
      bodyTimeoutMs: positiveInt(env, 'PRESENCE_BODY_TIMEOUT_MS', DEFAULTS.bodyTimeoutMs),
      concurrency: positiveInt(env, 'PRESENCE_CONCURRENCY', DEFAULTS.concurrency),
      paceCalls: flag(env, 'PRESENCE_PACE_CALLS', DEFAULTS.paceCalls),
      ca: caFile(env),
    },
    callbacks: callbackConfig(env),
  };
}

/** A rate bucket (a limiter's key, as `limiter.rate` events name it) and its configured ceiling, calls/s. */
export interface RateBucket {
  bucket: string;
  ceiling: number;
}

/**
 * The rate buckets an app's polling draws on: a Tencent app's state API and its account_check, or
 * a Volcengine app's account (none while the app has no credentials). The limiters
 * (src/poll/provider-registry.ts), the metrics and the rate budget all name buckets so.
 */
export function rateBucketsOf(
  config: Pick<Config, 'tencent' | 'volcengine'>,
  provider: ProviderName,
  appId: string,
): RateBucket[] {
  if (provider === 'tencent')
    return [
      { bucket: `tencent:${appId}:state`, ceiling: config.tencent.querystateRps },
      { bucket: `tencent:${appId}:account_check`, ceiling: config.tencent.accountCheckRps },
    ];
  if (!config.volcengine.hasCredentialsFor(appId)) return [];
  return [
    { bucket: `volcengine:${config.volcengine.credentialsFor(appId).accessKeyId}`, ceiling: config.volcengine.rps },
  ];
}
