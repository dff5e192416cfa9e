import type { Command } from 'commander';
import { systemClock } from '../clock.js';
import { AppBusyError } from '../errors.js';
import { EventStream } from '../events.js';
import { runPollCycle } from '../poll/poll-cycle.js';
import { observationClockFor } from '../poll/observation-clock.js';
import { pollLocksFor } from '../poll/poll-locks.js';
import { ProviderRegistry, stateApiLabel } from '../poll/provider-registry.js';
import { getWatchSet } from '../store/watch-sets.js';
import { countPollableUsers } from '../store/status.js';
import { createProgress } from '../output/progress-bar.js';
import { formatCycle } from './format-cycle.js';
import { withDatabase, type CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';

/** Defines `presence poll SET`. */
export function pollCommand(program: Command, run: CommandRun): void {
  program
    .command('poll')
    .description('run one cycle of SET now and print a summary; exit 0 if the cycle was ok, 1 otherwise')
    .argument('<set>', 'the watch set to poll')
    .action(action(run, (name: string) => pollOnce(name, run.io)));
}

/** One cycle now; exit 0 when it was ok, 1 otherwise. */
async function pollOnce(name: string, io: CommandIO): Promise<number> {
  return withDatabase(io, async ({ config, logger, database }) => {
    const set = await getWatchSet(database.db, name);
    // The total costs a count, made only when a bar will be drawn.
    const total = io.progressStream?.isTTY ? await countPollableUsers(database.db, set.name) : 0;
    const progress = createProgress(io.progressStream, { label: `polling ${set.name}`, total, unit: 'users' });
    const events = new EventStream();
    events.on('batch.finished', ({ done }) => progress.update(done));
    const registry = new ProviderRegistry(config, { events });
    const locks = pollLocksFor(database, logger);
    try {
      // Stamped like the daemon's cycles (the database server's clock on Postgres), and checked.
      const clock = observationClockFor(database, logger);
      events.emit('clock.checked', await clock.sync());
      // A daemon polling the same app would double the calls against its ceiling.
      const hold = await locks.tryHold(registry.lockKey(set.provider, set.app_id));
      if (hold === 'other') {
        throw new AppBusyError(
          `another process (a running daemon) is polling ${set.provider} app ${set.app_id}; its cycles are in poll_cycle`,
        );
      }
      const summary = await runPollCycle({
        db: database.db,
        set,
        provider: registry.stateClient(set.provider, set.app_id),
        api: stateApiLabel(set.provider, config),
        limiter: registry.stateLimiter(set.provider, set.app_id),
        concurrency: config.http.concurrency,
        clock: systemClock,
        stamp: () => clock.now().getTime(),
        events,
        logger,
      });
      progress.finish();
      for (const line of formatCycle(summary)) io.out(line);
      return summary.status === 'ok' ? 0 : 1;
    } finally {
      progress.finish();
      await registry.close();
      await locks.close();
    }
  });
}
