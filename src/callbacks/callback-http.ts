// The receiver's HTTP plumbing: reading a body, bounded (a body that never arrives whole, because
// the client went away or a timeout cut it, is a refusal of its own rather than an error of the
// handler), and writing Tencent's JSON answers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CallbackRejection, REJECT_REASONS, type RejectReason } from './parse.js';

/** The answer Tencent expects for a received callback. */
export const OK_BODY = JSON.stringify({ ActionStatus: 'OK', ErrorInfo: '', ErrorCode: 0 });

/** Rejection counters at zero. */
export function emptyRejected(): Record<RejectReason, number> {
  return Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
}

/** Writes a JSON answer once (nothing when already answered or the socket is gone); `close` ends the connection after it. */
export function reply(res: ServerResponse, status: number, body: string, close = false): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  };
  if (close) headers['connection'] = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

/** A FAIL answer naming why. */
export function failBody(status: number, info: string): string {
  return JSON.stringify({ ActionStatus: 'FAIL', ErrorInfo: info, ErrorCode: status });
}

/** The body's bytes, up to `limit`; rejects with CallbackRejection 413 beyond it, 400 `incomplete` when cut short. */
export function readLimited(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new CallbackRejection(413, 'too_large', `body larger than ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const cutShort = () => {
      if (done) return;
      done = true;
      reject(new CallbackRejection(400, 'incomplete', 'the body did not arrive whole (client gone, or too slow)'));
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        reject(new CallbackRejection(413, 'too_large', `body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    });
    // An abort is reported as an `error` (ECONNRESET, "aborted") and then `close`: both mean the
    // client is gone, nothing to answer, nothing written.
    req.on('error', cutShort);
    req.on('close', cutShort);
  });
}
