// What the poller process costs: peak RSS (sampled, since resourceUsage().maxRSS is the whole
// process's lifetime peak), CPU time (process.cpuUsage) and event-loop delay, per measured span.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** What one span cost the process. */
export interface SpanCost {
  wallSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
  /** After a forced GC when the process runs with --expose-gc (else as found): what is retained. */
  heapUsedBytes: number;
  rssBytes: number;
  /** Memory outside the V8 heap held by JS objects (Buffers and the like), after the GC. */
  externalBytes: number;
  /** Event-loop delay, ms: p99 and max. A busy loop delays timers, HTTP answers and limiter grants alike. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** Samples RSS every `intervalMs` and the event-loop delay from start() until stop(). */
export class SpanMeter {
  private timer: NodeJS.Timeout | undefined;
  private peak = 0;
  private cpu = process.cpuUsage();
  private started = performance.now();
  private readonly loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });

  constructor(private readonly intervalMs = 50) {}

  /** Starts (or restarts) a span. */
  start(): void {
    this.stopTimer();
    this.peak = process.memoryUsage.rss();
    this.cpu = process.cpuUsage();
    this.started = performance.now();
    this.loop.reset();
    this.loop.enable();
    this.timer = setInterval(() => {
      this.peak = Math.max(this.peak, process.memoryUsage.rss());
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Ends the span and returns its cost. */
  stop(): SpanCost {
    this.stopTimer();
    this.loop.disable();
    const cpu = process.cpuUsage(this.cpu);
    const rss = process.memoryUsage.rss();
    const wallSeconds = (performance.now() - this.started) / 1000;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const mem = process.memoryUsage();
    return {
      wallSeconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      peakRssBytes: Math.max(this.peak, rss),
      heapUsedBytes: mem.heapUsed,
      rssBytes: mem.rss,
      externalBytes: mem.external,
      loopDelayP99Ms: this.loop.percentile(99) / 1e6,
      loopDelayMaxMs: this.loop.max / 1e6,
    };
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
