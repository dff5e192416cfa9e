// A local HTTP server for the provider clients' tests: it records every request (in the shape the
// test chooses) and answers it with whatever handler the test set last.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenLocal } from './local-server.js';

/** Answers one request; `seen` is the request as recorded. */
export type RecordingHandler<S> = (req: IncomingMessage, res: ServerResponse, seen: S) => void;

/** A server that records requests as `S` and answers with `handler`. */
export interface RecordingServer<S> {
  /** http://127.0.0.1:port once started. */
  readonly base: string;
  /** Every request since the last reset, in arrival order. */
  readonly seen: S[];
  /** What answers the next requests. */
  handler: RecordingHandler<S>;
  start(): Promise<void>;
  /** Forgets what was seen and answers with `handler` again (beforeEach). */
  reset(handler: RecordingHandler<S>): void;
  stop(): Promise<void>;
}

/** A recording server; `record` turns a request and its whole body into what the test checks. */
export function recordingServer<S>(
  record: (req: IncomingMessage, url: URL, body: Buffer) => S,
  handler: RecordingHandler<S>,
): RecordingServer<S> {
  let server: Server | undefined;
  let base = '';
  const fixture: RecordingServer<S> = {
    get base() {
      return base;
    },
    seen: [],
    handler,
    async start() {
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const entry = record(req, new URL(req.url ?? '/', 'http://x'), Buffer.concat(chunks));
          fixture.seen.push(entry);
          fixture.handler(req, res, entry);
        });
      });
      base = await listenLocal(server);
    },
    reset(next) {
      fixture.handler = next;
      fixture.seen.length = 0;
    },
    async stop() {
      if (server) await closeServer(server);
    },
  };
  return fixture;
}
