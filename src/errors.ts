// A small family of error classes with stable `code` strings (after undici's lib/core/errors.js).
// Callers match on `code`, never on the message or the class name. Messages never carry secrets.

/** Every error the project raises on purpose. `code` is stable; the message is for people. */
export class PresenceError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A setting is missing or invalid. The message says which variable to set. */
export class ConfigError extends PresenceError {
  /** The environment variable (or CLI option) to fix. */
  readonly setting: string;
  constructor(setting: string, message: string, options?: { cause?: unknown }) {
    super('ERR_CONFIG', message, options);
    this.setting = setting;
  }
}

/** Bad input from a user: a CLI argument, a line of a user file. Nothing was written. */
export class InputError extends PresenceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INPUT', message, options);
  }
}

/** A named thing (a watch set) does not exist. */
export class NotFoundError extends PresenceError {
  constructor(message: string) {
    super('ERR_NOT_FOUND', message);
  }
}

/** Database-level refusals: `ERR_DB_NEWER_THAN_CODE`, `ERR_DATA_DIR_LOCKED`, `ERR_MIGRATION`. */
export class DatabaseError extends PresenceError {}

/** Stable codes of provider failures; `retryable` follows from the code. */
export type ProviderErrorCode =
  /** The provider refused because of its rate ceiling: slow down and retry the same batch. */
  | 'ERR_PROVIDER_RATE_LIMITED'
  /** A transient provider fault (internal error, backend timeout): retry with backoff. */
  | 'ERR_PROVIDER_RETRYABLE'
  /** The UserSig (or request signature) expired: sign afresh and retry once. */
  | 'ERR_PROVIDER_SIG_EXPIRED'
  /** Tencent 70050: too many bad signatures, the app is locked for a minute. */
  | 'ERR_PROVIDER_LOCKED'
  /** A configuration error (bad key, no such app, admin required): polling this app cannot succeed. */
  | 'ERR_PROVIDER_FATAL'
  /** The provider rejected the request itself (too many accounts, bad JSON): a bug, not retried. */
  | 'ERR_PROVIDER_BAD_REQUEST'
  /** The answer could not be understood. */
  | 'ERR_PROVIDER_BAD_RESPONSE'
  /** Connection refused, reset, DNS: retryable. */
  | 'ERR_PROVIDER_NETWORK'
  /** Connect, headers or body timeout: retryable. */
  | 'ERR_PROVIDER_TIMEOUT'
  /** A non-200 HTTP status: retryable when 429 or 5xx. */
  | 'ERR_PROVIDER_HTTP';

const RETRYABLE: ReadonlySet<ProviderErrorCode> = new Set<ProviderErrorCode>([
  'ERR_PROVIDER_RATE_LIMITED',
  'ERR_PROVIDER_RETRYABLE',
  'ERR_PROVIDER_SIG_EXPIRED',
  'ERR_PROVIDER_NETWORK',
  'ERR_PROVIDER_TIMEOUT',
]);

/** Details a provider error may carry. None of them is a secret. */
export interface ProviderErrorDetails {
  /** `tencent` or `volcengine`. */
  provider: string;
  /** The provider's own error code (Tencent ErrorCode, Volcengine Error.Code), when it sent one. */
  providerCode?: number | string;
  /** HTTP status, when the failure was an HTTP status. */
  httpStatus?: number;
  /** For fatal errors: the setting an operator should fix. */
  setting?: string;
  /** Overrides what the code implies: a body that is not JSON at all (cut off, a proxy's error page) is transient, a well-formed answer of the wrong shape is not. */
  retryable?: boolean;
  cause?: unknown;
}

/** A call to a provider failed. Match on `code`; `retryable` says whether to try again. */
export class ProviderError extends PresenceError {
  declare readonly code: ProviderErrorCode;
  readonly provider: string;
  readonly providerCode: number | string | undefined;
  readonly httpStatus: number | undefined;
  readonly setting: string | undefined;
  readonly retryable: boolean;
  constructor(code: ProviderErrorCode, message: string, details: ProviderErrorDetails) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.provider = details.provider;
    this.providerCode = details.providerCode;
    this.httpStatus = details.httpStatus;
    this.setting = details.setting;
    this.retryable =
      details.retryable ??
      (RETRYABLE.has(code) ||
        (code === 'ERR_PROVIDER_HTTP' &&
          details.httpStatus !== undefined &&
          (details.httpStatus === 429 || details.httpStatus >= 500)));
  }
}

/** True when `err` is a PresenceError with the given code. */
export function hasCode(err: unknown, code: string): boolean {
  return err instanceof PresenceError && err.code === code;
}
