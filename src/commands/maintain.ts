// `presence maintain`: the daemon's maintenance of the history, run once (after an import, or on a
// host where the daemon has not run): partitions for every past month with rows, closed days summed per
// user, closed hours summed per watch set for the reports. A progress bar on a terminal.
import { parseArgs } from 'node:util';
import { InputError } from '../errors.js';
import { createProgress, type Progress } from '../output/progress-bar.js';
import { runMaintenance, type MaintenancePhase } from '../store/maintenance.js';
import { withDatabase, type CommandIO } from './io.js';

/** `presence maintain`. */
export async function maintainCommand(argv: string[], io: CommandIO): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  if (positionals.length > 0) throw new InputError('usage: presence maintain (it takes no arguments)');
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
