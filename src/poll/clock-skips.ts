// A cycle's observations that the recording statement discarded for the clock: older than the
// user's recorded last_seen_at by more than CLOCK_TOLERANCE_MS (src/store/record-observations.ts),
// which its deliberate skips (a replay, another set's batch, a callback just received) never are.
// Such a cycle recorded less than it observed because a clock is behind, so it is never `ok`; when
// more than half of a set's observations are so skipped in two cycles running, the cycle is
// `failed` with ERR_CLOCK_BEHIND (one cycle could be a passing race; two are a clock), and /healthz
// says so until a cycle records normally.
import { clockSkipText, type ClockVerdict } from '../events.js';
import type { CycleStatus } from '../model.js';
import type { Logger } from '../logger.js';
import type { RecordResult } from '../store/record-observations.js';
import { CLOCK_BEHIND } from './observation-clock.js';

/** A cycle's clock skips, as summed over its batches. */
export type ClockSkips = Omit<ClockVerdict, 'mostly' | 'fault'>;

/** No skips yet. */
export function noClockSkips(): ClockSkips {
  return { observations: 0, skipped: 0, maxLagMs: 0 };
}

/** Adds a batch's record result (`observations` of them handed to the statement) into `into`. */
export function addClockSkips(into: ClockSkips, observations: number, recorded: RecordResult): void {
  into.observations += observations;
  into.skipped += recorded.clockSkipped ?? 0;
  into.maxLagMs = Math.max(into.maxLagMs, recorded.clockLagMs ?? 0);
}

/** Remembers, per set, whether its last cycle with observations had most of them skipped for the clock. */
export class ClockFaults {
  private readonly mostlySkipped = new Set<string>();

  /** Judges a finished cycle of `set`. A cycle with no observations says nothing either way. */
  judge(set: string, skips: ClockSkips): ClockVerdict {
    const mostly = skips.observations > 0 && skips.skipped * 2 > skips.observations;
    const fault = mostly && this.mostlySkipped.has(set);
    if (skips.observations > 0) {
      if (mostly) this.mostlySkipped.add(set);
      else this.mostlySkipped.delete(set);
    }
    return { ...skips, mostly, fault };
  }
}

/** The cycle's status once its clock skips are known: `failed` at a fault, never `ok` with a skip. */
export function statusAfterClock(status: CycleStatus, verdict: ClockVerdict): CycleStatus {
  if (verdict.fault && status !== 'interrupted') return 'failed';
  return verdict.skipped > 0 && status === 'ok' ? 'partial' : status;
}

/** poll_cycle.error with the clock's part first. */
export function errorAfterClock(errorText: string | null, verdict: ClockVerdict): string | null {
  const clock = clockSkipText(verdict);
  if (clock === null) return errorText;
  return errorText === null ? clock : `${clock}; ${errorText}`;
}

/** One line per cycle with clock skips: an error at a fault, a warning before. */
export function logClockVerdict(logger: Logger, set: string, verdict: ClockVerdict): void {
  if (verdict.skipped === 0) return;
  const fields = {
    set,
    code: CLOCK_BEHIND,
    skipped: verdict.skipped,
    observations: verdict.observations,
    lagMs: Math.round(verdict.maxLagMs),
  };
  const text = clockSkipText(verdict)!;
  if (verdict.fault) logger.error(fields, `cycle failed: ${text}`);
  else logger.warn(fields, text);
}
