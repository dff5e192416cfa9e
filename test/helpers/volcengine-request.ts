// Signed Volcengine QueryOnlineStatus calls for simulator tests, made with the production signer.
import { request } from 'undici';
import type { Dispatcher } from 'undici';
import { signRequest } from '../../src/providers/volcengine/signer.js';

export const VOLC_QUERY = { Action: 'QueryOnlineStatus', Version: '2020-12-01' } as const;

/** What to send; every field but `baseUrl`, `body` and the keys has a sensible default. */
export interface VolcCall {
  /** http://host:port of the simulator. */
  baseUrl: string;
  body: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Default cn-north-1. */
  region?: string;
  /** Signing time. Default now. */
  date?: Date;
  /** Query to sign and send. Default Action=QueryOnlineStatus&Version=2020-12-01. */
  query?: Record<string, string>;
  /** Extra signed headers. Default content-type: application/json. */
  headers?: Record<string, string>;
  /** Replaces headers after signing (a tampered X-Content-Sha256, a dropped Authorization). */
  override?: (headers: Record<string, string>) => Record<string, string>;
  /** Sent instead of `body` (the signature still covers `body`). */
  sentBody?: string;
  dispatcher: Dispatcher;
  headersTimeout?: number;
}

export interface VolcReply {
  status: number;
  text: string;
  json: Record<string, unknown> | undefined;
}

/** The headers signRequest gives for `call` (Host is the simulator's host:port). */
export function signFor(call: VolcCall): Record<string, string> {
  const url = new URL(call.baseUrl);
  return signRequest({
    method: 'POST',
    host: url.host,
    path: '/',
    query: call.query ?? { ...VOLC_QUERY },
    headers: call.headers ?? { 'Content-Type': 'application/json' },
    body: call.body,
    accessKeyId: call.accessKeyId,
    secretAccessKey: call.secretAccessKey,
    region: call.region ?? 'cn-north-1',
    service: 'rtc',
    date: call.date ?? new Date(),
  });
}

/** Signs and sends one call; resolves with the raw text (int64s intact) and a lossy JSON view. */
export async function volcCall(call: VolcCall): Promise<VolcReply> {
  const signed = signFor(call);
  const headers = call.override ? call.override(signed) : signed;
  const query = new URLSearchParams(call.query ?? { ...VOLC_QUERY });
  const res = await request(`${call.baseUrl}/?${query.toString()}`, {
    method: 'POST',
    body: call.sentBody ?? call.body,
    headers,
    dispatcher: call.dispatcher,
    ...(call.headersTimeout !== undefined ? { headersTimeout: call.headersTimeout } : {}),
  });
  const text = await res.body.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, text, json };
}
