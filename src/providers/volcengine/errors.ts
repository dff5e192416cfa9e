// Volcengine OpenAPI `ResponseMetadata.Error` (and bare HTTP statuses) → ProviderError. The table is
// reference/providers.md ("Response envelope and errors"). Callers act on `code`/`retryable`, and
// operators read `setting` to learn what to fix, so every fatal code names one.
import { providerError, type ProviderError } from '../../errors.js';
import type { ProviderErrorCode } from '../../errors.js';
import { clipText } from '../http.js';

/** What is known about a failed QueryOnlineStatus call. */
export interface VolcengineErrorDetails {
  /** `ResponseMetadata.Error.Code`, e.g. `SignatureDoesNotMatch` or `InvalidParameter.NotExistAppId`. */
  code?: string;
  /** `ResponseMetadata.Error.CodeN`, e.g. 100010. */
  codeN?: number;
  /**
   * `ResponseMetadata.Error.Message`. Present (possibly '') exactly when the answer carried an Error
   * envelope; with no code, codeN and message the HTTP status is all there is to go on.
   */
  message?: string;
  /** The HTTP status of the answer. */
  httpStatus: number;
  /** The AppId the call was made for. */
  appId: string;
}

const LABEL = 'Volcengine QueryOnlineStatus';
const ACCESS_KEY_ID = 'VOLC_ACCESS_KEY_ID';
const SECRET_ACCESS_KEY = 'VOLC_SECRET_ACCESS_KEY';
// The app id of a watch set is stored with the set, not in the environment.
const APP_ID_SETTING = 'watch_set.app_id';

interface Mapping {
  code: ProviderErrorCode;
  /** The setting to fix; only for fatal codes. */
  setting?: typeof ACCESS_KEY_ID | typeof SECRET_ACCESS_KEY | typeof APP_ID_SETTING | 'VOLC_ENDPOINT';
  /** Said after the code, so the log line tells the operator what to do. */
  hint?: string;
}

const RATE_LIMITED: Mapping = {
  code: 'ERR_PROVIDER_RATE_LIMITED',
  hint: 'over the QPS limit of the Volcengine account (shared by all its apps)',
};
const RETRYABLE: Mapping = { code: 'ERR_PROVIDER_RETRYABLE' };
const APP: Mapping = { code: 'ERR_PROVIDER_FATAL', setting: APP_ID_SETTING };

const TABLE = new Map<string, Mapping>([
  ['AccountFlowLimitExceeded', RATE_LIMITED],
  // The gateway refuses an X-Date too far from its clock. Every call is signed afresh, so one
  // immediate retry helps only if the refusal was a fluke; a repeat means this host's clock is off.
  [
    'InvalidTimestamp',
    {
      code: 'ERR_PROVIDER_SIG_EXPIRED',
      hint: "the request's X-Date was refused, likely clock skew; re-signing at once, but if this repeats check this host's clock (NTP)",
    },
  ],
  ['SignatureDoesNotMatch', { code: 'ERR_PROVIDER_FATAL', setting: SECRET_ACCESS_KEY }],
  ['InvalidAccessKey', { code: 'ERR_PROVIDER_FATAL', setting: ACCESS_KEY_ID }],
  ['MissingSignature', { code: 'ERR_PROVIDER_FATAL', setting: ACCESS_KEY_ID }],
  [
    'AccessDenied',
    {
      code: 'ERR_PROVIDER_FATAL',
      setting: ACCESS_KEY_ID,
      hint: 'the access key lacks permission for rtc QueryOnlineStatus',
    },
  ],
  [
    'LackPolicy',
    {
      code: 'ERR_PROVIDER_FATAL',
      setting: ACCESS_KEY_ID,
      hint: 'the access key lacks permission for rtc QueryOnlineStatus',
    },
  ],
  ['NotExistAppId', { ...APP, hint: 'no such app' }],
  ['IllegalAppId', { ...APP, hint: 'not a valid app id' }],
]);

// Families whose members Volcengine keeps adding (`FlowLimitExceeded.xxx`, `InternalError.xxx`).
const FAMILIES: readonly (readonly [string, Mapping])[] = [
  ['FlowLimitExceeded', RATE_LIMITED],
  ['InternalError', RETRYABLE],
  ['ServiceUnavailable', RETRYABLE],
  ['InvalidParameter', APP],
];

// The numeric codes the reference documents, by name, for an Error that carries only CodeN.
const CODE_N = new Map<number, string>([
  [100006, 'InvalidTimestamp'],
  [100009, 'InvalidAccessKey'],
  [100010, 'SignatureDoesNotMatch'],
  [100012, 'LackPolicy'],
  [100013, 'AccessDenied'],
]);

/** The mapping of a code: exact name, then its dotted parts (`InvalidParameter.NotExistAppId`), then its family. */
function lookup(code: string): Mapping | undefined {
  const exact = TABLE.get(code);
  if (exact !== undefined) return exact;
  for (const part of code.split('.').reverse()) {
    const mapping = TABLE.get(part);
    if (mapping !== undefined) return mapping;
  }
  return FAMILIES.find(([prefix]) => code.startsWith(prefix))?.[1];
}

/** The ProviderError for a failed QueryOnlineStatus answer (an Error envelope, or a non-200 status without one). */
export function volcengineError(details: VolcengineErrorDetails): ProviderError {
  const { codeN, message, httpStatus, appId } = details;
  const code = details.code ?? (codeN === undefined ? undefined : CODE_N.get(codeN));
  const envelope = code !== undefined || codeN !== undefined || message !== undefined;
  let mapping = code === undefined ? undefined : lookup(code);
  // A code we do not know may still carry a CodeN we do.
  if (mapping === undefined && codeN !== undefined) {
    const named = CODE_N.get(codeN);
    if (named !== undefined) mapping = lookup(named);
  }
  if (mapping === undefined) {
    if (httpStatus === 429) mapping = RATE_LIMITED;
    else if (envelope && httpStatus >= 400 && httpStatus < 500) {
      // An unknown code on a 4xx is the request's fault (a wrong endpoint path gives
      // InvalidActionOrVersion, bad credentials InvalidAuthorization...): retrying it every cycle
      // would spend the account's shared budget for nothing.
      mapping = {
        code: 'ERR_PROVIDER_FATAL',
        setting: 'VOLC_ENDPOINT',
        hint: 'check VOLC_ENDPOINT, VOLC_REGION and the access key',
      };
    } else if (envelope) {
      // An unknown code (or an Error without one) on a 200 or 5xx is treated as transient: Volcengine
      // adds codes over time and most unknown ones are backend faults. Retrying costs a call; calling it fatal would
      // stop polling an app on a code nobody has seen, and a real configuration error shows up as a
      // known code. An Error without a code on a 5xx is a backend fault by definition.
      mapping = RETRYABLE;
    } else {
      // No envelope at all (a proxy's HTML page, an empty 502): only the status speaks, and
      // ProviderError makes ERR_PROVIDER_HTTP retryable for 5xx.
      return providerError(
        'ERR_PROVIDER_HTTP',
        `${LABEL} failed: HTTP ${httpStatus} without an error envelope (app ${appId})`,
        {
          provider: 'volcengine',
          providerCode: httpStatus,
          httpStatus,
        },
      );
    }
  }
  const what = code ?? (codeN === undefined ? `HTTP ${httpStatus}` : `CodeN ${codeN}`);
  let text = `${LABEL} failed: ${what}`;
  // The provider's own text: cut short (it would flood the log) and without control characters
  // (a NUL cannot be stored in poll_cycle.error).
  if (message !== undefined && message !== '') text += ` (${clipText(message)})`;
  if (mapping.hint !== undefined) text += `; ${mapping.hint}`;
  const { setting } = mapping;
  if (setting === APP_ID_SETTING) text += `; check the set's app id ${appId} (${APP_ID_SETTING})`;
  else if (setting !== undefined) text += `; check ${setting} (or ${setting}_${appId})`;
  return providerError(mapping.code, text, {
    provider: 'volcengine',
    providerCode: code ?? httpStatus,
    httpStatus,
    ...(setting === undefined ? {} : { setting }),
  });
}
