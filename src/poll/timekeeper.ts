// Turns cron schedules into ticks, and does nothing else (after pg-boss's timekeeper). Each entry
// sleeps on the injected clock until its next run (src/schedules.ts computes it from the clock's
// time, not the real one), so the daemon's tests can run on virtual time. A tick that comes late
// (the event loop was blocked past one or more runs) fires once and reports the runs it missed:
// catching up with a burst of cycles would only skip them anyway.
import type { Clock } from '../clock.js';
import { nextRunAfter } from '../schedules.js';

/** What a tick tells its handler. */
export interface Tick {
  /** When the run was due (epoch ms). */
  scheduledAt: number;
  /** Runs that passed while the loop could not fire them (0 normally). */
  missed: number;
}

interface Entry {
  expression: string;
  onTick: (tick: Tick) => void;
  stop: AbortController;
  loop: Promise<void>;
}

/** A tick later than this after its run counts the runs it passed over as missed. */
const LATE_MS = 1_000;

/** Fires each added schedule's ticks until it is removed or the timekeeper stops. */
export class Timekeeper {
  private readonly entries = new Map<string, Entry>();
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    /** Told when a schedule can never fire again (it is then removed), or a handler throws. */
    private readonly onProblem: (key: string, message: string) => void = () => undefined,
  ) {}

  /** Schedules `expression` under `key` (replacing what was there). Throws InputError for a bad expression. */
  add(key: string, expression: string, onTick: (tick: Tick) => void): void {
    if (this.stopped) return;
    // Fails here, synchronously, for an expression that is invalid or never fires.
    if (nextRunAfter(expression, this.clock.now()) === undefined) {
      throw new RangeError(`schedule ${JSON.stringify(expression)} never fires`);
    }
    this.remove(key);
    const stop = new AbortController();
    const entry: Entry = { expression, onTick, stop, loop: Promise.resolve() };
    entry.loop = this.run(key, entry);
    this.entries.set(key, entry);
  }

  /** Stops the ticks of `key`; a tick already being handled is not waited for. */
  remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.stop.abort();
    this.entries.delete(key);
  }

  /** The keys scheduled now. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** Stops every schedule and waits until no timer is left. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    const loops = [...this.entries.values()].map((e) => {
      e.stop.abort();
      return e.loop;
    });
    this.entries.clear();
    await Promise.all(loops);
  }

  private async run(key: string, entry: Entry): Promise<void> {
    const { signal } = entry.stop;
    let next = nextRunAfter(entry.expression, this.clock.now());
    while (next !== undefined && !signal.aborted) {
      const wait = next - this.clock.now();
      try {
        if (wait > 0) await this.clock.sleep(wait, signal);
      } catch {
        return; // removed or stopped
      }
      // Woken before the run: the wall clock stepped back while we slept (an NTP step, a VM
      // resume). Waiting for the old run would mean an hour without a tick after a one-hour step:
      // the next run is reckoned again from the clock's new time.
      if (this.clock.now() < next) {
        next = nextRunAfter(entry.expression, this.clock.now());
        continue;
      }
      const now = this.clock.now();
      let missed = 0;
      let following = nextRunAfter(entry.expression, next);
      if (now - next > LATE_MS) {
        while (following !== undefined && following <= now) {
          missed++;
          following = nextRunAfter(entry.expression, following);
        }
      }
      try {
        entry.onTick({ scheduledAt: next, missed });
      } catch (err) {
        this.onProblem(key, `tick handler failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      next = following;
    }
    if (next === undefined && !signal.aborted) {
      this.onProblem(key, `schedule ${JSON.stringify(entry.expression)} has no further run; unscheduled`);
      this.entries.delete(key);
    }
  }
}
