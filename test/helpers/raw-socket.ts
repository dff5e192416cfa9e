// A raw TCP client for listener tests: says exactly the bytes a hostile or broken client would
// (slow headers, half a body, a target no HTTP library sends, pipelined requests) and records
// what the server answered and when it closed the socket. Loopback only; destroyAll() in a
// finally, so no socket outlives a test.
import { connect, type Socket } from 'node:net';

/** One raw connection. */
export interface RawSocket {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Status codes of the answers so far, in order. */
  statuses(): number[];
  /** ms from connect to the server's close, or undefined while open. */
  closedAfterMs(): number | undefined;
  /** Resolves once the socket is closed (by either side). */
  closed: Promise<void>;
  /** Resolves when the server has sent `count` answers (status lines), or rejects after `timeoutMs`. */
  waitForAnswers(count: number, timeoutMs: number): Promise<void>;
  write(text: string): void;
}

const opened = new Set<Socket>();

/** Connects to 127.0.0.1:port; resolves once connected. */
export function openRaw(port: number): Promise<RawSocket> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let data = '';
    let closedMs: number | undefined;
    const socket = connect(port, '127.0.0.1');
    opened.add(socket);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    // A reset by the server is a close as well.
    socket.on('error', () => undefined);
    const closed = new Promise<void>((done) =>
      socket.once('close', () => {
        closedMs = performance.now() - started;
        opened.delete(socket);
        done();
      }),
    );
    const statuses = () => [...data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    const raw: RawSocket = {
      socket,
      received: () => data,
      statuses,
      closedAfterMs: () => closedMs,
      closed,
      write: (text) => void socket.write(text),
      async waitForAnswers(count, timeoutMs) {
        const deadline = performance.now() + timeoutMs;
        while (statuses().length < count) {
          if (performance.now() > deadline || closedMs !== undefined)
            throw new Error(
              `expected ${count} answers, got ${statuses().length}: ${JSON.stringify(data.slice(0, 300))}`,
            );
          await new Promise((r) => setTimeout(r, 10));
        }
      },
    };
    socket.once('connect', () => resolve(raw));
    socket.once('error', reject);
  });
}

/** Destroys every raw socket still open. */
export function destroyAllRaw(): void {
  for (const socket of opened) socket.destroy();
  opened.clear();
}

/** Waits until `check()` holds, polling every 20 ms; false after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
