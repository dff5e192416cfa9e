// `presence prune --older-than DURATION [--dry-run] [--force]`: drops whole monthly partitions of
// the history, only those `presence archive` wrote and verified unless --force.
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { parseRetention, pruneHistory } from '../store/partitions.js';
import { withDatabase, type CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';

const day = (d: Date) => d.toISOString().slice(0, 10);

interface PruneOptions {
  olderThan?: string;
  dryRun: boolean;
  force: boolean;
}

/** Defines `presence prune --older-than 12mo [--dry-run] [--force]`. */
export function pruneCommand(program: Command, run: CommandRun): void {
  program
    .command('prune')
    .description(
      'drop monthly history partitions that ended before now minus DURATION, only those archive wrote and verified',
    )
    .option('--older-than <duration>', 'how much history to keep: 90d, 12w, 6mo, 1y')
    .option('--dry-run', 'say what would be dropped, drop nothing', false)
    .option('--force', 'drop partitions that have no verified archive too', false)
    .action(action(run, (values: PruneOptions) => prune(values, run.io)));
}

async function prune(values: PruneOptions, io: CommandIO): Promise<number> {
  if (!values.olderThan)
    throw new InputError('--older-than is required, e.g. presence prune --older-than 12mo [--dry-run]');
  const interval = parseRetention(values.olderThan);
  const dryRun = values.dryRun;
  const force = values.force;
  const result = await withDatabase(io, ({ database }) => pruneHistory(database.db, interval, dryRun, force));
  const refused = result.unarchived.length > 0 && !force;
  for (const { partition, apps } of result.unarchived) {
    const what = apps
      .map(
        (a) => `${a.provider} ${a.appId}: ${a.rows} transitions, ${a.archived === null ? 'none' : a.archived} archived`,
      )
      .join('; ');
    if (refused) io.err(`${partition} has no verified archive (${what})`);
    else io.out(`note: ${partition} has no verified archive (${what}); --force drops it anyway`);
  }
  if (refused)
    throw new InputError(
      `${dryRun ? 'prune would refuse' : 'nothing was dropped'}: archive those months first (presence archive --to DIR), or drop them anyway with --force`,
    );
  const verb = dryRun ? 'would drop' : 'dropped';
  io.out(`history older than ${interval} (before ${result.cutoff.toISOString()}):`);
  if (result.dropped.length === 0) io.out('  no monthly partition ends before that; nothing dropped');
  for (const p of result.dropped) io.out(`  ${verb} ${p.name} (${day(p.from)} to ${day(p.to)}, ${p.rows} transitions)`);
  const total = result.dropped.reduce((n, p) => n + p.rows, 0);
  if (result.dropped.length > 0)
    io.out(
      `${dryRun ? 'dry run: nothing was dropped; ' : ''}${result.dropped.length} partitions, ${total} transitions; presence_current is untouched`,
    );
  if (result.defaultRowsBeforeCutoff > 0) {
    io.out(
      `note: the default partition holds ${result.defaultRowsBeforeCutoff} transitions from before the cutoff (written before their month had a partition); prune drops whole partitions only and leaves them`,
    );
  }
  return 0;
}
