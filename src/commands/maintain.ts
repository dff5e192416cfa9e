// `presence maintain`: the daemon's maintenance of the history, run once (after an import, or on a
// host where the daemon has not run): partitions for every month with rows, closed days summed per
// user, closed hours summed per watch set for the reports. A progress bar on a terminal.
import { parseArgs } from 'node:util';
import { InputError } from '../errors.js';
import { createProgress, type Progress } from '../progress/progress-bar.js';
import { runMaintenance } from '../store/maintenance.js';
import { withDatabase, type CommandIO } from './io.js';

/** `presence maintain`. */
export async function maintainCommand(argv: string[], io: CommandIO): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  if (positionals.length > 0) throw new InputError('usage: presence maintain (it takes no arguments)');
  const result = await withDatabase(io, async ({ database }) => {
    let progress: Progress | undefined;
    try {
      return await runMaintenance(database.db, {
        onProgress: (done, total) => {
          progress ??= createProgress(io.progressStream, { label: 'summing closed days', total, unit: 'days' });
          progress.update(done);
        },
      });
    } finally {
      progress?.finish();
    }
  });
  io.out(`partitions created: ${result.partitionsCreated}`);
  io.out(`closed days summed per user (presence_daily_rollup): ${result.daysSummed}`);
  io.out(`closed days summed per watch set for the reports: ${result.setDaysSummed}`);
  if (result.daysSummed + result.setDaysSummed === 0) io.out('the rollups were up to date');
  return 0;
}
