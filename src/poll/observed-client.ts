// Times every provider call and reports its outcome to the observer, without touching the clients:
// a Proxy wraps the calling methods of a client (StateProvider or TencentClient) and leaves the
// rest as they are.
import { PresenceError } from '../errors.js';
import type { Config } from '../config.js';
import type { ProviderName } from '../providers/types.js';
import type { PollObserver } from './observer.js';

/** The methods that make one HTTP call each, and the API label each one reports. */
export type ObservedMethods = Record<string, string>;

/** `client`, with each named method's calls timed and reported as `callFinished`; the client itself when there is no observer. */
export function observeCalls<T extends object>(
  client: T,
  labels: { provider: string; app: string },
  methods: ObservedMethods,
  observer: PollObserver | undefined,
): T {
  if (!observer?.callFinished) return client;
  const report = observer.callFinished.bind(observer);
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || typeof value !== 'function' || !(property in methods)) return value;
      const api = methods[property]!;
      return async (...args: unknown[]): Promise<unknown> => {
        const started = performance.now();
        let outcome = 'ok';
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (err) {
          outcome = err instanceof PresenceError ? err.code : 'ERR_UNKNOWN';
          throw err;
        } finally {
          try {
            report({ ...labels, api, outcome, seconds: (performance.now() - started) / 1000 });
          } catch {
            // Metrics must never fail a call.
          }
        }
      };
    },
  });
}

/** The API label of a provider's state call. */
export function stateApiLabel(provider: ProviderName, config: Pick<Config, 'tencent'>): string {
  return provider === 'tencent' ? config.tencent.stateApi : 'QueryOnlineStatus';
}
