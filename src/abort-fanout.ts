// One abort listener per signal, however many waits share it. The daemon aborts every call in
// flight with one signal at its shutdown deadline, and every call, retry backoff and limiter wait
// used to add a listener of its own to it: 32 calls in flight per set plus their sleeps put more
// than ten on it at once, and Node printed "MaxListenersExceededWarning: Possible EventTarget memory
// leak detected" in `presence demo` and the daemon's log. Raising the limit would also hide a real
// leak; instead each signal carries one listener of ours, which calls back whoever is still waiting.

interface Fanout {
  listener: () => void;
  waiting: Set<(reason: unknown) => void>;
}

const fanouts = new WeakMap<AbortSignal, Fanout>();

/**
 * Calls `onAbort(reason)` once when `signal` aborts (at once if it already has); returns the
 * function that stops waiting. The signal's listener is removed when its last waiter stops.
 */
export function whenAborted(signal: AbortSignal, onAbort: (reason: unknown) => void): () => void {
  if (signal.aborted) {
    onAbort(signal.reason);
    return () => undefined;
  }
  let fanout = fanouts.get(signal);
  if (!fanout) {
    const waiting = new Set<(reason: unknown) => void>();
    const listener = () => {
      fanouts.delete(signal);
      const callbacks = [...waiting];
      waiting.clear();
      for (const callback of callbacks) callback(signal.reason);
    };
    fanout = { listener, waiting };
    fanouts.set(signal, fanout);
    signal.addEventListener('abort', listener, { once: true });
  }
  const { waiting, listener } = fanout;
  // A wrapper of its own, so that the same function waiting twice is two waits.
  const callback = (reason: unknown) => onAbort(reason);
  waiting.add(callback);
  return () => {
    if (!waiting.delete(callback) || waiting.size > 0) return;
    signal.removeEventListener('abort', listener);
    if (fanouts.get(signal)?.listener === listener) fanouts.delete(signal);
  };
}

/** A signal of one call that aborts with `signal` (through its one shared listener), and `release` for when the call is done. */
export function callSignal(signal: AbortSignal | undefined): { signal: AbortSignal | undefined; release: () => void } {
  if (signal === undefined) return { signal: undefined, release: () => undefined };
  const controller = new AbortController();
  const release = whenAborted(signal, (reason) => controller.abort(reason));
  return { signal: controller.signal, release };
}
