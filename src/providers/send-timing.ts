// When a call actually reaches the wire. The provider counts a call when it arrives, and between
// the limiter's grant and the socket write a call can wait for a connection, a handshake or a busy
// event loop; so the limiter counts each call from its write (src/poll/sliding-window-limiter.ts).
// undici's Client invokes a request's onRequestStart (onConnect in its older handler API)
// synchronously just before it writes the request's headers to the socket (client-h1.js
// writeH1), so a dispatcher interceptor that wraps that handler learns the moment, per request.
// The caller names whom to tell through AsyncLocalStorage: the provider clients' interfaces stay
// as they are, and a call made outside `observeSend` costs nothing.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Dispatcher } from 'undici';

const observers = new AsyncLocalStorage<() => void>();

/** Runs `fn`; a request it dispatches calls `onSent` when its headers are written to the socket. */
export function observeSend<T>(onSent: () => void, fn: () => Promise<T>): Promise<T> {
  return observers.run(onSent, fn);
}

/** Passes every event on to `inner`, and tells `onSent` when the request is written. */
class SentHandler implements Dispatcher.DispatchHandler {
  constructor(
    private readonly inner: Dispatcher.DispatchHandler,
    private readonly onSent: () => void,
  ) {}
  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.onSent();
    this.inner.onRequestStart?.(controller, context);
  }
  onRequestUpgrade(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestUpgrade']>>[2],
    socket: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestUpgrade']>>[3],
  ): void {
    this.inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }
  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>[2],
    statusMessage?: string,
  ): void {
    this.inner.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.inner.onResponseData?.(controller, chunk);
  }
  onResponseEnd(
    controller: Dispatcher.DispatchController,
    trailers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseEnd']>>[1],
  ): void {
    this.inner.onResponseEnd?.(controller, trailers);
  }
  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.inner.onResponseError?.(controller, error);
  }
}

/** The interceptor that reports each request's write to the observer of the call that dispatched it. */
export const sendTimingInterceptor: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) => {
  // Read here, synchronously inside the caller's context; the write happens later, outside it.
  const onSent = observers.getStore();
  return dispatch(opts, onSent === undefined ? handler : new SentHandler(handler, onSent));
};
