// One client per provider app and one limiter per rate bucket, shared by every set and job that
// uses them, so a ceiling holds however many sets there are (DESIGN.md semantic 6): Tencent's is per
// app and API, Volcengine's per account (access key) across all of its apps. The limiters report
// their grants, rates and refusals to the event stream.
import { systemClock, type Clock } from '../clock.js';
import { rateBucketsOf, type Config } from '../config.js';
import type { EventStream } from '../events.js';
import type { ProviderName } from '../model.js';
import { TencentClient } from '../providers/tencent/client.js';
import type { AccountChecker, StateProvider } from '../providers/types.js';
import { VolcengineClient } from '../providers/volcengine/client.js';
import { SlidingWindowLimiter } from './sliding-window-limiter.js';

/**
 * The poller's window is a little longer than the provider's 1000 ms, so that network jitter
 * between our call start and the provider's arrival time cannot make two windows overlap at the
 * provider. It costs about 1% of the ceiling.
 */
export const LIMITER_WINDOW_MS = 1010;

/** Options of a registry. */
export interface RegistryOptions {
  events: EventStream;
  clock?: Clock;
  /** The limiters' window, ms (default LIMITER_WINDOW_MS); the benchmark tries other margins. */
  limiterWindowMs?: number;
  /**
   * When this process started, on the clock's monotonic time: a previous process's last calls
   * still count at the provider, so the limiters count a window full until then (and paced, half a
   * window past it: src/poll/sliding-window-limiter.ts). Default: 0 on the system clock
   * (performance.now() counts from the process start); none on another clock.
   */
  processStartedAt?: number;
}

/** The API label of a provider's state call, as metrics and logs name it. */
export function stateApiLabel(provider: ProviderName, config: Pick<Config, 'tencent'>): string {
  return provider === 'tencent' ? config.tencent.stateApi : 'QueryOnlineStatus';
}

/** Creates provider clients and limiters on first use and closes them together. */
export class ProviderRegistry {
  private readonly stateClients = new Map<string, StateProvider>();
  private readonly tencentClients = new Map<string, TencentClient>();
  private readonly limiters = new Map<string, SlidingWindowLimiter>();
  private readonly clock: Clock;
  private readonly processStartedAt: number | undefined;

  constructor(
    private readonly config: Config,
    private readonly options: RegistryOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.processStartedAt = options.processStartedAt ?? (this.clock === systemClock ? 0 : undefined);
  }

  /**
   * The poll lock of an app (src/poll/poll-locks.ts): what one instance must hold to call it. A
   * Tencent app's state and account_check calls share one; a Volcengine account's apps share one,
   * as they share its ceiling. Throws ConfigError when a Volcengine app has no credentials.
   */
  lockKey(provider: ProviderName, appId: string): string {
    return provider === 'tencent'
      ? `tencent:${appId}`
      : `volcengine:${this.config.volcengine.credentialsFor(appId).accessKeyId}`;
  }

  /** The state client of an app. Throws ConfigError when its credentials are missing. */
  stateClient(provider: ProviderName, appId: string): StateProvider {
    const key = `${provider}:${appId}`;
    let client = this.stateClients.get(key);
    if (!client) {
      client = provider === 'tencent' ? this.tencentClient(appId) : this.volcengineClient(appId);
      this.stateClients.set(key, client);
    }
    return client;
  }

  /** The account checker of a Tencent app (it shares the app's connections and UserSig). */
  accountChecker(appId: string): AccountChecker {
    return this.tencentClient(appId);
  }

  private tencentClient(appId: string): TencentClient {
    let client = this.tencentClients.get(appId);
    if (!client) {
      const { tencent } = this.config;
      client = new TencentClient({
        sdkAppId: appId,
        admin: tencent.admin,
        secretKey: tencent.secretKeyFor(appId),
        // So a rejected key's hint names the variable in use (TIM_SECRET_KEY_FILE...).
        secretKeySetting: tencent.secretKeySettingFor(appId),
        endpoint: tencent.endpoint,
        stateApi: tencent.stateApi,
        http: this.config.http,
      });
      this.tencentClients.set(appId, client);
    }
    return client;
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
    if (provider === 'volcengine') this.config.volcengine.credentialsFor(appId); // throws ConfigError naming them
    const { bucket, ceiling } = rateBucketsOf(this.config, provider, appId)[0]!;
    return this.limiter(bucket, ceiling);
  }

  /** The limiter of a Tencent app's account_check calls (a ceiling of its own, `TIM_ACCOUNT_CHECK_RPS`). */
  accountCheckLimiter(appId: string): SlidingWindowLimiter {
    const { bucket, ceiling } = rateBucketsOf(this.config, 'tencent', appId)[1]!;
    return this.limiter(bucket, ceiling);
  }

  private limiter(bucket: string, limit: number): SlidingWindowLimiter {
    let limiter = this.limiters.get(bucket);
    if (!limiter) {
      const { events } = this.options;
      limiter = new SlidingWindowLimiter(limit, this.options.limiterWindowMs ?? LIMITER_WINDOW_MS, this.clock, {
        // Paced calls arrive one at a time and leave the provider's window its margin
        // (src/poll/sliding-window-limiter.ts, docs/benchmarks.md).
        pace: this.config.http.paceCalls,
        // The batch pipeline reports every grant's socket write: the window counts from there.
        countFromSend: true,
        // What a previous process sent in its last window still counts at the provider.
        ...(this.processStartedAt === undefined ? {} : { fullUntil: this.processStartedAt }),
        onGrant: (at) => events.emit('call.started', { bucket, at }),
        onRateChange: (rate) => events.emit('limiter.rate', { bucket, rate }),
        onRefusal: () => events.emit('limiter.refusal', { bucket }),
      });
      events.emit('limiter.rate', { bucket, rate: limiter.rate });
      this.limiters.set(bucket, limiter);
    }
    return limiter;
  }

  /** Closes every client's connections. Safe to call twice. */
  async close(): Promise<void> {
    const clients = new Set<{ close(): Promise<void> }>([
      ...this.stateClients.values(),
      ...this.tencentClients.values(),
    ]);
    this.stateClients.clear();
    this.tencentClients.clear();
    await Promise.all([...clients].map((c) => c.close()));
  }
}
