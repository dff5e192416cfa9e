// One client per provider app and one limiter per rate bucket, shared by every set that uses them,
// so a ceiling holds however many sets there are (DESIGN.md semantic 6): Tencent's is per app and
// API, Volcengine's per account (access key) across all of its apps.
import type { Config } from '../config.js';
import { TencentClient } from '../providers/tencent/client.js';
import type { ProviderName, StateProvider } from '../providers/types.js';
import { VolcengineClient } from '../providers/volcengine/client.js';
import { realClock, SlidingWindowLimiter } from './sliding-window-limiter.js';

/**
 * The poller's window is a little longer than the provider's 1000 ms, so that network jitter
 * between our call start and the provider's arrival time cannot make two windows overlap at the
 * provider. It costs about 1% of the ceiling.
 */
export const LIMITER_WINDOW_MS = 1010;

/** Observers of every limiter, by rate bucket (`tencent:<app>:state`, `tencent:<app>:account_check`, `volcengine:<access key id>`). */
export interface RegistryHooks {
  /** Every call start. */
  onCallStart?: (bucket: string, at: number) => void;
  /** A limiter's current rate: once at its creation (the ceiling), then at every change (refusals lower it, calls without refusal restore it). */
  onRateChange?: (bucket: string, rate: number) => void;
  /** The provider refused a call of this bucket for its rate. */
  onRefusal?: (bucket: string) => void;
  /** The limiters' window, ms (default LIMITER_WINDOW_MS); the benchmark tries other margins. */
  limiterWindowMs?: number;
}

/** Creates provider clients and limiters on first use and closes them together. */
export class ProviderRegistry {
  private readonly clients = new Map<string, StateProvider>();
  private readonly tencentClients = new Map<string, TencentClient>();
  private readonly limiters = new Map<string, SlidingWindowLimiter>();

  constructor(
    private readonly config: Config,
    private readonly hooks: RegistryHooks = {},
  ) {}

  /**
   * The poll lock of an app (src/poll/poll-locks.ts): what one instance must hold to call it. A
   * Tencent app's state and account_check calls share one; a Volcengine account's apps share one,
   * as they share its ceiling.
   */
  lockKey(provider: ProviderName, appId: string): string {
    return provider === 'tencent'
      ? `tencent:${appId}`
      : `volcengine:${this.config.volcengine.credentialsFor(appId).accessKeyId}`;
  }

  /** The state client of an app. Throws ConfigError when its credentials are missing. */
  stateClient(provider: ProviderName, appId: string): StateProvider {
    const key = `${provider}:${appId}`;
    let client = this.clients.get(key);
    if (!client) {
      client = provider === 'tencent' ? this.tencentClient(appId) : this.volcengineClient(appId);
      this.clients.set(key, client);
    }
    return client;
  }

  /** The Tencent client of an app (state and account_check share its connections and UserSig). */
  tencentClient(appId: string): TencentClient {
    let client = this.tencentClients.get(appId);
    if (!client) {
      const { tencent } = this.config;
      client = new TencentClient({
        sdkAppId: appId,
        admin: tencent.admin,
        secretKey: tencent.secretKeyFor(appId),
        endpoint: tencent.endpoint,
        stateApi: tencent.stateApi,
        http: this.config.http,
      });
      this.tencentClients.set(appId, client);
    }
    return client;
  }

  /** The limiter of a Tencent app's account_check calls (a ceiling of its own, `TIM_ACCOUNT_CHECK_RPS`). */
  accountCheckLimiter(appId: string): SlidingWindowLimiter {
    return this.limiter(`tencent:${appId}:account_check`, this.config.tencent.accountCheckRps);
  }

  private volcengineClient(appId: string): StateProvider {
    const { volcengine } = this.config;
    return new VolcengineClient({
      appId,
      ...volcengine.credentialsFor(appId),
      endpoint: volcengine.endpoint,
      region: volcengine.region,
      http: this.config.http,
    });
  }

  /** The limiter of an app's state calls: per app for Tencent, per account for Volcengine. */
  stateLimiter(provider: ProviderName, appId: string): SlidingWindowLimiter {
    return provider === 'tencent'
      ? this.limiter(`tencent:${appId}:state`, this.config.tencent.querystateRps)
      : this.limiter(
          `volcengine:${this.config.volcengine.credentialsFor(appId).accessKeyId}`,
          this.config.volcengine.rps,
        );
  }

  private limiter(key: string, limit: number): SlidingWindowLimiter {
    let limiter = this.limiters.get(key);
    if (!limiter) {
      const { onCallStart, onRateChange, onRefusal } = this.hooks;
      limiter = new SlidingWindowLimiter(limit, this.hooks.limiterWindowMs ?? LIMITER_WINDOW_MS, realClock, {
        // Paced calls arrive one at a time and leave the provider's window its margin
        // (src/poll/sliding-window-limiter.ts, docs/benchmarks.md).
        pace: this.config.http.paceCalls ?? false,
        onGrant: onCallStart && ((at) => onCallStart(key, at)),
        onRateChange: onRateChange && ((rate) => onRateChange(key, rate)),
        onRefusal: onRefusal && (() => onRefusal(key)),
      });
      onRateChange?.(key, limiter.rate);
      this.limiters.set(key, limiter);
    }
    return limiter;
  }

  /** Closes every client's connections. Safe to call twice. */
  async close(): Promise<void> {
    const clients = new Set<StateProvider>([...this.clients.values(), ...this.tencentClients.values()]);
    this.clients.clear();
    this.tencentClients.clear();
    await Promise.all([...clients].map((c) => c.close()));
  }
}
