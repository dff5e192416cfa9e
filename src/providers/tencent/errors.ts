// Tencent IM ErrorCode → ProviderError. The tables are reference/providers.md ("Common error codes",
// the querystate and account_check private codes). Callers act on `code`/`retryable`, and operators
// read `setting` to learn what to fix, so every fatal code names one.
import { providerError, type ProviderError } from '../../errors.js';
import type { ProviderErrorCode } from '../../errors.js';

/** Where a Tencent error happened: the API name (for the message) and the app (for the setting). */
export interface TencentErrorContext {
  /** `querystate`, `query_online_status` or `account_check`. */
  api: string;
  /** The SDKAppID the call was made for. */
  sdkAppId: string;
  /** The variable the app's secret key came from (`TIM_SECRET_KEY_<app>`, `TIM_SECRET_KEY_FILE`...). */
  secretKeySetting?: string;
}

interface Mapping {
  code: ProviderErrorCode;
  /** The setting to fix; only for fatal codes. */
  setting?: (context: TencentErrorContext) => string;
  /** Said after the code, so the log line tells the operator what to do. */
  hint?: string;
  /** For a lock: how long the app is refused. */
  pauseMs?: number;
}

const secretKey = (context: TencentErrorContext): string =>
  context.secretKeySetting ?? `TIM_SECRET_KEY_${context.sdkAppId}`;
const admin = (): string => 'TIM_ADMIN';
// The app id of a watch set is stored with the set, not in the environment.
const APP_ID_SETTING = 'watch_set.app_id';
const appId = (): string => APP_ID_SETTING;
const endpoint = (): string => 'TIM_ENDPOINT';

const TABLE = new Map<number, Mapping>();
function map(codes: readonly number[], mapping: Mapping): void {
  for (const c of codes) TABLE.set(c, mapping);
}

map([60007, 60018, 60011, 60019], { code: 'ERR_PROVIDER_RATE_LIMITED', hint: 'over the call frequency limit' });
map([70001], { code: 'ERR_PROVIDER_SIG_EXPIRED', hint: 'UserSig expired' });
map([70050], {
  code: 'ERR_PROVIDER_LOCKED',
  hint: 'too many bad UserSigs, the app is locked for 60 s',
  pauseMs: 60_000,
});
// 70003 (illegal sig), 70009 (HMAC mismatch) and 70014 (sig made for another app) all come down to the
// key configured for this app, since the sig is generated here from that key.
map([70003, 70009, 70014], { code: 'ERR_PROVIDER_FATAL', setting: secretKey });
map([70013], { code: 'ERR_PROVIDER_FATAL', setting: admin });
map([70016, 70020, 60006, 60016, 60020], { code: 'ERR_PROVIDER_FATAL', setting: appId });
map([60010, 90009, 70403], {
  code: 'ERR_PROVIDER_FATAL',
  setting: admin,
  hint: 'the App admin identifier is required',
});
map([60026], { code: 'ERR_PROVIDER_FATAL', setting: endpoint, hint: "the domain does not match the app's region" });
map([60004, 60005, 60008, 60014, 70169, 70202, 70500, 90992, 90994, 90995, 91000], { code: 'ERR_PROVIDER_RETRYABLE' });
map([90001, 90003, 90011, 70402], { code: 'ERR_PROVIDER_BAD_REQUEST' });

/** The ProviderError for a non-zero Tencent ErrorCode; the message never carries the UserSig. */
export function tencentError(errorCode: number, errorInfo: string, context: TencentErrorContext): ProviderError {
  // An unknown code is treated as transient: Tencent adds codes over time and most of its
  // undocumented ones are backend faults. Retrying costs a call; calling it fatal would stop polling
  // an app on a code nobody has seen, and a real configuration error shows up as a known code.
  const mapping = TABLE.get(errorCode) ?? { code: 'ERR_PROVIDER_RETRYABLE' };
  const setting = mapping.setting?.(context);
  let message = `Tencent IM ${context.api} failed: ${errorCode} (${errorInfo})`;
  if (mapping.hint !== undefined) message += `; ${mapping.hint}`;
  if (setting === APP_ID_SETTING) message += `; check the set's app id ${context.sdkAppId}`;
  else if (setting !== undefined) message += `; check ${setting}`;
  return providerError(mapping.code, message, {
    provider: 'tencent',
    providerCode: errorCode,
    ...(setting === undefined ? {} : { setting }),
    ...(mapping.pauseMs === undefined ? {} : { pauseMs: mapping.pauseMs }),
  });
}

/** ErrorList code of an account that was never imported into the app: not Offline, not observed. */
export const TENCENT_ACCOUNT_NOT_IMPORTED = 70107;
