// The daemon's structured log lines of what happens, written from the event stream: one line per
// cycle (warn when it failed or was partial), the one line per cycle that names the setting to
// fix after a configuration error, skipped ticks, re-checks. Errors of components that are not
// events (a reload that failed, a lock session lost) are logged where they happen.
import type { CycleSummary, EventStream } from '../events.js';
import type { Logger } from '../logger.js';

function cycleLine(s: CycleSummary): Record<string, unknown> {
  return {
    set: s.set,
    cycle: s.id,
    status: s.status,
    users: s.users,
    observed: s.observed,
    failed: s.failed,
    accountErrors: s.accountErrors,
    notImported: s.notImported,
    calls: s.calls,
    refusals: s.refusals,
    transitions: s.transitions,
    durationMs: s.durationMs,
    ...(s.clock && s.clock.skipped > 0
      ? { clockSkipped: s.clock.skipped, clockLagMs: Math.round(s.clock.maxLagMs) }
      : {}),
    ...(Object.keys(s.failures).length > 0 ? { failures: s.failures, error: s.error } : {}),
  };
}

/** Logs the events a person reading the daemon's log needs; returns the unsubscribe function. */
export function subscribeEventLog(events: EventStream, logger: Logger): () => void {
  const skipped = new Map<string, number>();
  const off = [
    events.on('cycle.finished', (summary) => {
      if (summary.fatal) {
        // The one line per cycle that tells the operator what to fix; the app's other sets and
        // every other app keep polling, and the next cycle probes again.
        const { provider, app, code, setting, message } = summary.fatal;
        logger.error(
          { set: summary.set, app, provider, code, setting },
          `not polling ${provider} app ${app} (set ${summary.set}): ${message}`,
        );
      }
      // One line per cycle whatever failed in it (not one per failed batch: an outage at a million
      // users would otherwise write two thousand lines a cycle); at warn when users went unobserved.
      const healthy = summary.status === 'ok' || summary.status === 'interrupted';
      if (healthy) logger.info(cycleLine(summary), 'cycle finished');
      else logger.warn(cycleLine(summary), 'cycle finished');
    }),
    events.on('tick.skipped', ({ set }) => {
      const n = (skipped.get(set) ?? 0) + 1;
      skipped.set(set, n);
      logger.warn({ set, skipped: n }, 'previous cycle still running; tick skipped');
    }),
    events.on('recheck.finished', ({ set, summary }) => {
      if (summary.checked + summary.unchecked === 0) return;
      logger.info(
        {
          set,
          checked: summary.checked,
          imported: summary.imported,
          notImported: summary.notImported,
          unchecked: summary.unchecked,
          calls: summary.calls,
          refusals: summary.refusals,
        },
        're-checked NotImported accounts',
      );
    }),
  ];
  return () => off.forEach((unsubscribe) => unsubscribe());
}
