// One Volcengine IM app's QueryOnlineStatus client: exactly one HTTP call per queryState, no retries
// and no rate limiting (those are the poller's, which sees every app of an account). Its job is to
// send the int64 user IDs exactly, sign every call afresh, turn every way a call can fail into a
// ProviderError with a stable code, and keep the secret and the Authorization header out of
// everything it throws.
import type { HttpConfig } from '../../config.js';
import { providerError, type ProviderError } from '../../errors.js';
import { callSignal } from '../../abort-fanout.js';
import { ANSWER_BODY_LIMIT, ProviderTransport, readBodyText, scrub, transportError } from '../http.js';
import type { StateProvider, StateQueryOptions, StateQueryResult } from '../types.js';
import { isInt64Id, queryOnlineStatusBody } from './int64-json.js';
import { parseQueryOnlineStatus, toStateQueryResult } from './parse.js';
import { rfc3986, signRequest } from './signer.js';

/** Most user IDs one QueryOnlineStatus call accepts. */
export const VOLC_STATE_BATCH = 100;

/** Settings of one Volcengine IM app's client. */
export interface VolcengineClientOptions {
  /** The app's AppId (decimal digits). */
  appId: string;
  /** Access key ID of the account that owns the app. */
  accessKeyId: string;
  /** Secret access key of that account; used only to sign. */
  secretAccessKey: string;
  /** Base URL of the OpenAPI gateway, e.g. `https://rtc.volcengineapi.com` (a path prefix is kept). */
  endpoint: string;
  /** Signing region, e.g. `cn-north-1`. */
  region: string;
  http: HttpConfig;
  /** Signing service (default `rtc`). */
  service?: string;
  /** Clock used for X-Date (tests inject one). */
  now?: () => Date;
}

const LABEL = 'Volcengine QueryOnlineStatus';
const QUERY: Readonly<Record<string, string>> = { Action: 'QueryOnlineStatus', Version: '2020-12-01' };
// The same encoding the signer uses, so that the query sent is byte for byte the one signed.
const QUERY_STRING = Object.keys(QUERY)
  .sort()
  .map((k) => `${rfc3986(k)}=${rfc3986(QUERY[k] ?? '')}`)
  .join('&');
// A non-200 body is read only for its error envelope, which is small; a bigger one is some proxy's page.
const ERROR_BODY_LIMIT = 64 * 1024;

function fatal(setting: string, message: string): ProviderError {
  return providerError('ERR_PROVIDER_FATAL', message, { provider: 'volcengine', setting });
}

/** A Volcengine IM QueryOnlineStatus client for one app. Each queryState makes exactly one HTTP call. */
export class VolcengineClient implements StateProvider {
  readonly provider = 'volcengine';
  readonly maxBatch = VOLC_STATE_BATCH;
  readonly appId: string;
  private readonly accessKeyId: string;
  // Kept only to sign and to scrub it from anything we throw; never put into a message.
  private readonly secretAccessKey: string;
  private readonly region: string;
  private readonly service: string;
  private readonly http: HttpConfig;
  private readonly now: () => Date;
  private readonly origin: string;
  private readonly host: string;
  private readonly path: string;
  private readonly transport: ProviderTransport;
  private closing: Promise<void> | undefined;

  constructor(options: VolcengineClientOptions) {
    const { appId, accessKeyId, secretAccessKey, endpoint, region, http } = options;
    if (!isInt64Id(appId))
      throw fatal(
        'watch_set.app_id',
        `Volcengine app id must be a positive decimal integer, got ${JSON.stringify(appId)}`,
      );
    if (accessKeyId === '')
      throw fatal('VOLC_ACCESS_KEY_ID', `Set VOLC_ACCESS_KEY_ID (or VOLC_ACCESS_KEY_ID_${appId})`);
    if (secretAccessKey === '')
      throw fatal('VOLC_SECRET_ACCESS_KEY', `Set VOLC_SECRET_ACCESS_KEY (or VOLC_SECRET_ACCESS_KEY_${appId})`);
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw fatal('VOLC_ENDPOINT', `VOLC_ENDPOINT is not a URL: ${JSON.stringify(endpoint)}`);
    }
    this.appId = appId;
    this.accessKeyId = accessKeyId;
    this.secretAccessKey = secretAccessKey;
    this.region = region;
    this.service = options.service ?? 'rtc';
    this.http = http;
    this.now = options.now ?? (() => new Date());
    this.origin = url.origin;
    // host[:port] as URL spells it (no default port), which is what is signed and sent.
    this.host = url.host;
    this.path = `${url.pathname.replace(/\/+$/, '')}/`;
    this.transport = new ProviderTransport(this.origin, http);
  }

  /** Asks for the online state of 1..100 int64 user IDs (detail: connections per platform). Throws ProviderError. */
  async queryState(userIds: readonly string[], options: StateQueryOptions): Promise<StateQueryResult> {
    if (this.closing !== undefined) {
      throw providerError('ERR_PROVIDER_BAD_REQUEST', `${LABEL} called after the client was closed`, {
        provider: 'volcengine',
      });
    }
    // Thrown before sending: an oversized batch is the caller's bug, and Volcengine would refuse it
    // anyway after spending a call from the account's shared QPS budget.
    if (userIds.length === 0 || userIds.length > VOLC_STATE_BATCH) {
      throw providerError(
        'ERR_PROVIDER_BAD_REQUEST',
        `${LABEL} takes 1 to ${VOLC_STATE_BATCH} user IDs a call, got ${userIds.length}`,
        {
          provider: 'volcengine',
        },
      );
    }
    let body: string;
    try {
      body = queryOnlineStatusBody(this.appId, userIds);
    } catch (cause) {
      const bad = userIds.find((id) => !isInt64Id(id)) ?? '';
      throw providerError(
        'ERR_PROVIDER_BAD_REQUEST',
        `${LABEL}: user ID ${JSON.stringify(bad)} is not an integer in 1..9223372036854775807`,
        {
          provider: 'volcengine',
          cause,
        },
      );
    }
    const { status, text } = await this.send(body, options.signal);
    return toStateQueryResult(userIds, parseQueryOnlineStatus(text, status, this.appId), options.detail);
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

  /** Signs `body` with a fresh X-Date and POSTs it; returns the status and the (scrubbed) body text. */
  private async send(body: string, signal: AbortSignal | undefined): Promise<{ status: number; text: string }> {
    const signed = signRequest({
      method: 'POST',
      host: this.host,
      path: this.path,
      query: QUERY,
      // Content-Type is sent but not signed, as the official SDK's Signer does (it refuses to sign
      // it): the signed set the gateway is known to accept is host;x-content-sha256;x-date.
      body,
      accessKeyId: this.accessKeyId,
      secretAccessKey: this.secretAccessKey,
      region: this.region,
      service: this.service,
      date: this.now(),
    });
    const authorization = signed.Authorization ?? '';
    const signature = /Signature=([0-9a-f]+)/.exec(authorization)?.[1] ?? '';
    // Longest first, so the whole header goes before the signature inside it.
    const secrets = [authorization, signature, this.secretAccessKey];
    let status: number;
    let text: string | undefined;
    // The caller's signal is shared by every call in flight: this call listens through one link.
    const link = callSignal(signal);
    try {
      const response = await this.transport.dispatcher.request({
        method: 'POST',
        path: `${this.path}?${QUERY_STRING}`,
        // Sent explicitly so the Host on the wire is the one that was signed.
        headers: { ...signed, 'Content-Type': 'application/json', host: this.host },
        body,
        headersTimeout: this.http.headersTimeoutMs,
        bodyTimeout: this.http.bodyTimeoutMs,
        signal: link.signal,
      });
      status = response.statusCode;
      // Unlike Tencent, a non-200 answer is read too: Volcengine says why (SignatureDoesNotMatch on
      // a 403) in the same envelope as on a 200.
      text = await readBodyText(response.body, status === 200 ? ANSWER_BODY_LIMIT : ERROR_BODY_LIMIT);
    } catch (err) {
      throw transportError(err, {
        provider: 'volcengine',
        label: LABEL,
        origin: this.origin,
        http: this.http,
        signal,
        secrets,
      });
    } finally {
      link.release();
    }
    if (text === undefined) {
      if (status === 200) {
        throw providerError(
          'ERR_PROVIDER_BAD_RESPONSE',
          `${LABEL} answered with more than ${ANSWER_BODY_LIMIT} bytes`,
          {
            provider: 'volcengine',
          },
        );
      }
      // Too big to be an envelope: judged by the status alone.
      text = '';
    }
    // Scrubbed before parsing so that no later message quoting the body can carry a secret.
    return { status, text: scrub(text, secrets) };
  }
}
