// One Tencent IM app's REST client: exactly one HTTP call per method, no retries and no rate limiting
// (those are the poller's, which sees every app). Its job is to turn every way a call can fail into a
// ProviderError with a stable code, and to keep the UserSig (a bearer credential carried in the
// query string) out of everything it throws.
import { randomInt } from 'node:crypto';
import type { HttpConfig, TencentStateApi } from '../../config.js';
import { providerError, ProviderSignatureExpiredError } from '../../errors.js';
import { callSignal } from '../../abort-fanout.js';
import { refuseStrangers } from '../answer.js';
import { ANSWER_BODY_LIMIT, ProviderTransport, readBodyText, scrub, transportError } from '../http.js';
import type {
  AccountCheckResult,
  AccountChecker,
  CallOptions,
  StateProvider,
  StateQueryOptions,
  StateQueryResult,
} from '../types.js';
import { checkEnvelope, parseAccountCheckResponse, parseAnswerText, parseStateResponse } from './parse.js';
import { UserSigCache } from './usersig.js';

/** Most accounts one querystate / query_online_status call accepts (more is Tencent error 90011). */
export const TENCENT_STATE_BATCH = 500;
/** Most accounts one account_check call accepts. */
export const TENCENT_ACCOUNT_CHECK_BATCH = 100;

/** Settings of one Tencent IM app's client. */
export interface TencentClientOptions {
  /** The app's SDKAppID (digits). */
  sdkAppId: string;
  /** App admin identifier that signs the calls. */
  admin: string;
  /** The app's secret key; used only to make UserSigs. */
  secretKey: string;
  /** The variable the key came from, named in the message of a rejected key. */
  secretKeySetting?: string;
  /** Base URL, e.g. `https://console.tim.qq.com` (a path prefix is kept). */
  endpoint: string;
  /** Which name of the state API to call. */
  stateApi: TencentStateApi;
  http: HttpConfig;
  /** Validity of each UserSig, seconds (default USERSIG_EXPIRE_SECONDS). */
  userSigExpireSeconds?: number;
  /** Clock of the UserSig's time and renewal (tests inject one). */
  now?: () => Date;
}

/**
 * Validity of the admin UserSig, seconds. It travels in every call's query string, so whoever sees
 * one URL (a proxy's log, a packet capture) is the app admin until it expires: one hour, not the
 * SDKs' customary day. Signing is a local HMAC, so renewing often costs nothing.
 */
export const USERSIG_EXPIRE_SECONDS = 3600;
/** A UserSig is renewed this long before it expires, so no call carries one about to lapse. */
export const USERSIG_RENEW_BEFORE_SECONDS = 300;

// 2^32: crypto.randomInt's upper bound is exclusive, and `random` may be any uint32.
const UINT32_END = 0x1_0000_0000;
// What a non-200 body may cost us to drain before the socket is given up rather than reused.
const DRAIN_LIMIT = 64 * 1024;

/** A Tencent IM REST client for one app. Each method makes exactly one HTTP call. */
export class TencentClient implements StateProvider, AccountChecker {
  readonly provider = 'tencent';
  readonly maxBatch = TENCENT_STATE_BATCH;
  readonly maxCheckBatch = TENCENT_ACCOUNT_CHECK_BATCH;
  readonly sdkAppId: string;
  private readonly admin: string;
  private readonly stateApi: TencentStateApi;
  private readonly http: HttpConfig;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly transport: ProviderTransport;
  private readonly userSigCache: UserSigCache;
  // Kept only to scrub it from anything we throw; never put into a message.
  private readonly secretKey: string;
  private readonly secretKeySetting: string | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: TencentClientOptions) {
    const { sdkAppId, admin, secretKey, endpoint, stateApi, http } = options;
    const appNumber = Number(sdkAppId);
    if (!/^\d+$/.test(sdkAppId) || !Number.isSafeInteger(appNumber)) {
      throw providerError('ERR_PROVIDER_FATAL', `Tencent IM app id must be digits, got ${JSON.stringify(sdkAppId)}`, {
        provider: 'tencent',
        setting: 'watch_set.app_id',
      });
    }
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw providerError('ERR_PROVIDER_FATAL', `TIM_ENDPOINT is not a URL: ${JSON.stringify(endpoint)}`, {
        provider: 'tencent',
        setting: 'TIM_ENDPOINT',
      });
    }
    this.sdkAppId = sdkAppId;
    this.admin = admin;
    this.stateApi = stateApi;
    this.http = http;
    this.secretKey = secretKey;
    this.secretKeySetting = options.secretKeySetting;
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    const now = options.now ?? (() => new Date());
    this.userSigCache = new UserSigCache(
      secretKey,
      appNumber,
      admin,
      options.userSigExpireSeconds ?? USERSIG_EXPIRE_SECONDS,
      USERSIG_RENEW_BEFORE_SECONDS,
      () => Math.floor(now().getTime() / 1000),
    );
    this.transport = new ProviderTransport(this.origin, http);
  }

  /** Asks for the online state of 1..500 accounts (`IsNeedDetail` follows `detail`). Throws ProviderError. */
  async queryState(userIds: readonly string[], options: StateQueryOptions): Promise<StateQueryResult> {
    this.checkBatch(this.stateApi, userIds, TENCENT_STATE_BATCH);
    const body = await this.call(
      this.stateApi,
      `openim/${this.stateApi}`,
      { To_Account: userIds, IsNeedDetail: options.detail ? 1 : 0 },
      options.signal,
    );
    const result = parseStateResponse(body, options.detail);
    // Checked here too (runCycle's readAnswer would refuse it), so that the call itself counts as failed.
    refuseStrangers(result, userIds, 'tencent');
    return result;
  }

  /** Asks whether 1..100 accounts were imported into the app. Throws ProviderError. */
  async checkAccounts(userIds: readonly string[], options: CallOptions = {}): Promise<AccountCheckResult> {
    this.checkBatch('account_check', userIds, TENCENT_ACCOUNT_CHECK_BATCH);
    const payload = { CheckItem: userIds.map((UserID) => ({ UserID })) };
    const body = await this.call('account_check', 'im_open_login_svc/account_check', payload, options.signal);
    return parseAccountCheckResponse(body, userIds);
  }

  /** Opens up to `connections` connections ahead of a cycle's first call. */
  warm(connections: number): Promise<void> {
    return this.closing === undefined ? this.transport.warm(connections) : Promise.resolve();
  }

  /** Closes the keep-alive connections after in-flight calls finish; safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= this.transport.close();
    return this.closing;
  }

  private checkBatch(api: string, userIds: readonly string[], max: number): void {
    // Thrown before sending: an oversized batch is the caller's bug, and Tencent would refuse it
    // anyway (90011) after spending a call from the rate budget.
    if (userIds.length === 0 || userIds.length > max) {
      throw providerError(
        'ERR_PROVIDER_BAD_REQUEST',
        `Tencent IM ${api} takes 1 to ${max} accounts a call, got ${userIds.length}`,
        {
          provider: 'tencent',
        },
      );
    }
  }

  /** POSTs `payload` to `v4/<command>` and returns the parsed body after checking the envelope. */
  private async call(
    api: string,
    command: string,
    payload: unknown,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    if (this.closing !== undefined) {
      throw providerError('ERR_PROVIDER_BAD_REQUEST', `Tencent IM ${api} called after the client was closed`, {
        provider: 'tencent',
      });
    }
    const userSig = this.userSigCache.get();
    const secrets = [userSig, this.secretKey];
    const query = new URLSearchParams({
      sdkappid: this.sdkAppId,
      identifier: this.admin,
      usersig: userSig,
      random: String(randomInt(0, UINT32_END)),
      contenttype: 'json',
    });
    let status: number;
    let text: string | undefined;
    // The caller's signal is shared by every call in flight: this call listens through one link.
    const link = callSignal(signal);
    try {
      const response = await this.transport.dispatcher.request({
        method: 'POST',
        path: `${this.basePath}/v4/${command}?${query.toString()}`,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        headersTimeout: this.http.headersTimeoutMs,
        bodyTimeout: this.http.bodyTimeoutMs,
        signal: link.signal,
      });
      status = response.statusCode;
      if (status !== 200) {
        // Drained so the keep-alive socket can serve the next call.
        await response.body.dump({ limit: DRAIN_LIMIT });
        text = '';
      } else {
        // Bounded: a body of hundreds of MB would be read into memory whole, and then parsed.
        text = await readBodyText(response.body, ANSWER_BODY_LIMIT);
      }
    } catch (err) {
      throw transportError(err, {
        provider: 'tencent',
        label: `Tencent IM ${api}`,
        origin: this.origin,
        http: this.http,
        signal,
        secrets,
      });
    } finally {
      link.release();
    }
    if (status !== 200) {
      throw providerError('ERR_PROVIDER_HTTP', `Tencent IM ${api}: HTTP ${status} from ${this.origin}`, {
        provider: 'tencent',
        httpStatus: status,
      });
    }
    if (text === undefined) {
      throw providerError(
        'ERR_PROVIDER_BAD_RESPONSE',
        `Tencent IM ${api} answered with more than ${ANSWER_BODY_LIMIT} bytes`,
        { provider: 'tencent' },
      );
    }
    // Scrubbed before parsing so that no later message quoting the body can carry a secret.
    const body = parseAnswerText(scrub(text, secrets), api);
    try {
      checkEnvelope(body, {
        api,
        sdkAppId: this.sdkAppId,
        ...(this.secretKeySetting === undefined ? {} : { secretKeySetting: this.secretKeySetting }),
      });
    } catch (err) {
      // The caller retries a SIG_EXPIRED call once; that retry must carry a freshly made sig.
      if (err instanceof ProviderSignatureExpiredError) this.userSigCache.invalidate();
      throw err;
    }
    return body;
  }
}
