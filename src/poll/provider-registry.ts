// One client and one limiter per provider app, shared by every set that watches the app, so the
// ceiling holds per app and API however many sets there are (DESIGN.md semantic 6).
import type { Config } from '../config.js';
import { InputError } from '../errors.js';
import { TencentClient } from '../providers/tencent/client.js';
import type { ProviderName, StateProvider } from '../providers/types.js';
import { SlidingWindowLimiter } from './sliding-window-limiter.js';

/**
 * The poller's window is a little longer than the provider's 1000 ms, so that network jitter
 * between our call start and the provider's arrival time cannot make two windows overlap at the
 * provider. It costs about 1% of the ceiling.
 */
export const LIMITER_WINDOW_MS = 1010;

/** Creates provider clients and limiters on first use and closes them together. */
export class ProviderRegistry {
  private readonly clients = new Map<string, StateProvider>();
  private readonly limiters = new Map<string, SlidingWindowLimiter>();

  constructor(private readonly config: Config) {}

  /** The state client of an app. Throws ConfigError when its secret is missing. */
  stateClient(provider: ProviderName, appId: string): StateProvider {
    const key = `${provider}:${appId}`;
    let client = this.clients.get(key);
    if (!client) {
      if (provider !== 'tencent') throw new InputError(`provider ${provider} is not supported yet`);
      const { tencent } = this.config;
      client = new TencentClient({
        sdkAppId: appId,
        admin: tencent.admin,
        secretKey: tencent.secretKeyFor(appId),
        endpoint: tencent.endpoint,
        stateApi: tencent.stateApi,
        http: this.config.http,
      });
      this.clients.set(key, client);
    }
    return client;
  }

  /** The limiter of the state API of an app. */
  stateLimiter(provider: ProviderName, appId: string): SlidingWindowLimiter {
    const key = `${provider}:${appId}:state`;
    let limiter = this.limiters.get(key);
    if (!limiter) {
      limiter = new SlidingWindowLimiter(this.config.tencent.querystateRps, LIMITER_WINDOW_MS);
      this.limiters.set(key, limiter);
    }
    return limiter;
  }

  /** Closes every client's connections. Safe to call twice. */
  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((c) => c.close()));
  }
}
