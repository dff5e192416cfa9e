// `presence maintain`: the daemon's maintenance of the history, run once (after an import, or on a
// host where the daemon has not run): partitions for every past month with rows, closed days summed per
// user, closed hours summed per watch set for the reports. A progress bar on a terminal.
import type { Command } from 'commander';
import { createProgress, type Progress } from '../output/progress-bar.js';
import { runMaintenance, type MaintenancePhase } from '../store/maintenance.js';
import { withDatabase, type CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';

/** Defines `presence maintain`. */
export function maintainCommand(program: Command, run: CommandRun): void {
  program
    .command('maintain')
    .description(
      "the daemon's maintenance once: partitions, closed days summed for the reports (after an import, or where no daemon ran)",
    )
    .action(action(run, () => maintain(run.io)));
}

async function maintain(io: CommandIO): Promise<number> {
  const result = await withDatabase(io, async ({ database }) => {
    // One bar per phase: the days of every user, then the days of each watch set.
    const bars = new Map<MaintenancePhase, Progress>();
    try {
      return await runMaintenance(database.db, {
        onProgress: (phase, done, total) => {
          let bar = bars.get(phase);
          if (!bar) {
            for (const other of bars.values()) other.finish();
            const label = phase === 'days' ? 'summing closed days' : 'summing closed days per set';
            bar = createProgress(io.progressStream, { label, total, unit: 'days' });
            bars.set(phase, bar);
          }
          bar.update(done);
        },
      });
    } finally {
      for (const bar of bars.values()) bar.finish();
    }
  });
  io.out(`partitions created: ${result.partitionsCreated}`);
  io.out(`closed days summed per user (presence_daily_rollup): ${result.daysSummed}`);
  io.out(`closed days summed per watch set for the reports: ${result.setDaysSummed}`);
  if (result.daysSummed + result.setDaysSummed === 0) io.out('the rollups were up to date');
  return 0;
}
