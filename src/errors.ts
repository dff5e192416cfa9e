// The project's errors: a closed family (after undici's lib/core/errors.js). Each class has one
// fixed `code`; callers match on `code` (or on a ProviderError's `action`), never on the message or
// the class name. An error that is not one of these is a bug, reported as ERR_INTERNAL: never
// disguised as a database or provider failure. Messages never carry secrets.

/** Every code an error of this project can have. Stable: logs, metrics and scripts match on them. */
export type PresenceErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_INPUT'
  | 'ERR_NOT_FOUND'
  | 'ERR_DATABASE'
  | 'ERR_MIGRATION'
  | 'ERR_DB_NEWER_THAN_CODE'
  | 'ERR_DATA_DIR_LOCKED'
  | 'ERR_APP_BUSY'
  | 'ERR_LIMITER_DEADLINE'
  | 'ERR_INTERNAL'
  | ProviderErrorCode;

/** The base of the family. Not constructed directly: each subclass fixes its code. */
export abstract class PresenceError extends Error {
  abstract readonly code: PresenceErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A setting is missing or invalid. The message says which variable (or set field) to fix. */
export class ConfigError extends PresenceError {
  readonly code = 'ERR_CONFIG';
  constructor(
    /** The environment variable (or stored field, e.g. `watch_set.schedule`) to fix. */
    readonly setting: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Bad input from a user (an argument, a line of a file): nothing was written. */
export class InputError extends PresenceError {
  readonly code = 'ERR_INPUT';
  /** The field that is wrong (`gapSeconds`), when the input has fields: a caller may name it its own way (`--gap`). */
  readonly field: string | undefined;
  /** What is wrong with that field, without its name (`must be ... got ...`). */
  readonly problem: string | undefined;
  constructor(message: string, options?: { cause?: unknown; field?: string; problem?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.field = options?.field;
    this.problem = options?.problem;
  }
}

/** A named thing (a watch set) does not exist. */
export class NotFoundError extends PresenceError {
  readonly code = 'ERR_NOT_FOUND';
}

/** The database failed (unreachable, a connection dropped, a statement refused or timed out). */
export class DatabaseError extends PresenceError {
  readonly code = 'ERR_DATABASE';
}

/** A migration file is malformed, or applying one failed. */
export class MigrationError extends PresenceError {
  readonly code = 'ERR_MIGRATION';
}

/** The database was migrated by a newer version of presence-poller: refusing to touch it. */
export class DatabaseNewerThanCodeError extends PresenceError {
  readonly code = 'ERR_DB_NEWER_THAN_CODE';
}

/** Another process holds the embedded database folder. */
export class DataDirLockedError extends PresenceError {
  readonly code = 'ERR_DATA_DIR_LOCKED';
}

/** Another process (a running daemon) polls this app: a second poller would break its ceiling. */
export class AppBusyError extends PresenceError {
  readonly code = 'ERR_APP_BUSY';
}

/** A batch could not start before its deadline because its app is paused by the provider. */
export class LimiterDeadlineError extends PresenceError {
  readonly code = 'ERR_LIMITER_DEADLINE';
}

/** A bug: something failed that no part of the code expected. Logged with its stack. */
export class InternalError extends PresenceError {
  readonly code = 'ERR_INTERNAL';
}

/** The code of any thrown value: its own for ours, ERR_INTERNAL for anything else. */
export function errorCode(err: unknown): PresenceErrorCode {
  return err instanceof PresenceError ? err.code : 'ERR_INTERNAL';
}

/** `err` as one of ours: itself, or an InternalError whose cause it is. */
export function asPresenceError(err: unknown): PresenceError {
  if (err instanceof PresenceError) return err;
  return new InternalError(`unexpected error: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** True when `err` is one of ours with the given code. */
export function hasCode(err: unknown, code: PresenceErrorCode): boolean {
  return err instanceof PresenceError && err.code === code;
}

// ---------------------------------------------------------------------------------------------
// Provider failures. A provider client (src/providers/) turns every way a call can fail into one
// of these; the poll engine acts on `action` alone and knows no provider's codes.

/** Stable codes of provider failures. */
export type ProviderErrorCode =
  | 'ERR_PROVIDER_RATE_LIMITED'
  | 'ERR_PROVIDER_RETRYABLE'
  | 'ERR_PROVIDER_SIG_EXPIRED'
  | 'ERR_PROVIDER_LOCKED'
  | 'ERR_PROVIDER_FATAL'
  | 'ERR_PROVIDER_BAD_REQUEST'
  | 'ERR_PROVIDER_BAD_RESPONSE'
  | 'ERR_PROVIDER_NETWORK'
  | 'ERR_PROVIDER_TIMEOUT'
  | 'ERR_PROVIDER_HTTP';

/**
 * What the engine must do about a failed call:
 * - `retry`: transient; retry with backoff inside the batch's deadline;
 * - `resign`: the signature expired; sign afresh and retry once, at once;
 * - `slow-down`: the provider refused for its rate; tell the limiter, retry the same batch;
 * - `pause`: the provider locked the app for `pauseMs`; send nothing to it meanwhile;
 * - `fatal`: a configuration error (`setting` says which); stop calling the app until it is fixed;
 * - `fail`: this batch cannot succeed (a bad request, an answer of the wrong shape); not retried.
 */
export type ProviderAction = 'retry' | 'resign' | 'slow-down' | 'pause' | 'fatal' | 'fail';

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
  /** For a pause: how long the provider refuses the app, ms. */
  pauseMs?: number;
  /**
   * Only for ERR_PROVIDER_BAD_RESPONSE: a body that is not JSON at all (cut off, a proxy's error
   * page) is transient and retried; a well-formed answer of the wrong shape is not.
   */
  retryable?: boolean;
  cause?: unknown;
}

/** A call to a provider failed. Match on `code`, act on `action`. */
export abstract class ProviderError extends PresenceError {
  abstract override readonly code: ProviderErrorCode;
  abstract readonly action: ProviderAction;
  readonly provider: string;
  readonly providerCode: number | string | undefined;
  readonly httpStatus: number | undefined;
  /** The setting an operator should fix (configuration errors). */
  readonly setting: string | undefined;
  constructor(message: string, details: ProviderErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.provider = details.provider;
    this.providerCode = details.providerCode;
    this.httpStatus = details.httpStatus;
    this.setting = details.setting;
  }

  /** True when trying the same batch again can help. */
  get retryable(): boolean {
    return this.action === 'retry' || this.action === 'resign' || this.action === 'slow-down';
  }
}

/** The provider refused the call for its rate ceiling. */
export class ProviderRateLimitedError extends ProviderError {
  readonly code = 'ERR_PROVIDER_RATE_LIMITED';
  readonly action = 'slow-down';
}

/** A transient provider fault (internal error, backend timeout). */
export class ProviderTransientError extends ProviderError {
  readonly code = 'ERR_PROVIDER_RETRYABLE';
  readonly action = 'retry';
}

/** The UserSig or request signature was refused as expired. */
export class ProviderSignatureExpiredError extends ProviderError {
  readonly code = 'ERR_PROVIDER_SIG_EXPIRED';
  readonly action = 'resign';
}

/** The provider locked the app for a while (Tencent 70050): nothing may be sent until it ends. */
export class ProviderPausedError extends ProviderError {
  readonly code = 'ERR_PROVIDER_LOCKED';
  readonly action = 'pause';
  /** How long nothing may be sent to the app, ms. */
  readonly pauseMs: number;
  constructor(message: string, details: ProviderErrorDetails) {
    super(message, details);
    this.pauseMs = details.pauseMs ?? 60_000;
  }
}

/** A configuration error: polling this app cannot succeed until `setting` is fixed. */
export class ProviderConfigError extends ProviderError {
  readonly code = 'ERR_PROVIDER_FATAL';
  readonly action = 'fatal';
}

/** The provider (or the client itself, before sending) rejected the request: a bug, not retried. */
export class ProviderRequestError extends ProviderError {
  readonly code = 'ERR_PROVIDER_BAD_REQUEST';
  readonly action = 'fail';
}

/** The answer could not be understood: its users are unobserved. */
export class ProviderAnswerError extends ProviderError {
  readonly code = 'ERR_PROVIDER_BAD_RESPONSE';
  readonly action: 'retry' | 'fail';
  constructor(message: string, details: ProviderErrorDetails) {
    super(message, details);
    this.action = details.retryable === true ? 'retry' : 'fail';
  }
}

/** Connection refused, reset, DNS. */
export class ProviderNetworkError extends ProviderError {
  readonly code = 'ERR_PROVIDER_NETWORK';
  readonly action = 'retry';
}

/** Connect, headers or body timeout. */
export class ProviderTimeoutError extends ProviderError {
  readonly code = 'ERR_PROVIDER_TIMEOUT';
  readonly action = 'retry';
}

/** A non-200 HTTP status: 429 is a refusal, 5xx transient, anything else fails the batch. */
export class ProviderHttpError extends ProviderError {
  readonly code = 'ERR_PROVIDER_HTTP';
  readonly action: 'slow-down' | 'retry' | 'fail';
  constructor(message: string, details: ProviderErrorDetails) {
    super(message, details);
    const status = details.httpStatus ?? 0;
    this.action = status === 429 ? 'slow-down' : status >= 500 ? 'retry' : 'fail';
  }
}

const PROVIDER_ERRORS: Record<
  ProviderErrorCode,
  new (message: string, details: ProviderErrorDetails) => ProviderError
> = {
  ERR_PROVIDER_RATE_LIMITED: ProviderRateLimitedError,
  ERR_PROVIDER_RETRYABLE: ProviderTransientError,
  ERR_PROVIDER_SIG_EXPIRED: ProviderSignatureExpiredError,
  ERR_PROVIDER_LOCKED: ProviderPausedError,
  ERR_PROVIDER_FATAL: ProviderConfigError,
  ERR_PROVIDER_BAD_REQUEST: ProviderRequestError,
  ERR_PROVIDER_BAD_RESPONSE: ProviderAnswerError,
  ERR_PROVIDER_NETWORK: ProviderNetworkError,
  ERR_PROVIDER_TIMEOUT: ProviderTimeoutError,
  ERR_PROVIDER_HTTP: ProviderHttpError,
};

/** The provider error of the class that `code` names (for tables that map provider codes to ours). */
export function providerError(code: ProviderErrorCode, message: string, details: ProviderErrorDetails): ProviderError {
  return new PROVIDER_ERRORS[code](message, details);
}
