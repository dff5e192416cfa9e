// `presence plan`: the rate budget of every bucket and set (src/poll/rate-budget.ts), as tables for
// people and as JSON; the same numbers are a section of `presence status`, and the warnings the set
// and user commands print when a change leaves a bucket over its ceiling or a set past its gap.
// Read-only: no migration, so a read-only role can run it.
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import { requireMigrated } from '../db/migrator.js';
import { bucketLabel } from '../operations/metrics.js';
import { formatTable } from '../output/table.js';
import { budgetCeilingsOf, readRateBudget } from '../poll/read-rate-budget.js';
import type { BucketBudget, RateBudget, SetBudget } from '../poll/rate-budget.js';
import { withDatabase, type CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';

/** The budget with bucket names fit to show (a Volcengine access key ID shortened, as on /metrics). */
export function labelled(budget: RateBudget): RateBudget {
  return {
    buckets: budget.buckets.map((b) => ({ ...b, bucket: bucketLabel(b.bucket) })),
    sets: budget.sets.map((s) => ({ ...s, bucket: bucketLabel(s.bucket) })),
  };
}

/** The budget of every set in the database now, labelled for output. */
export async function currentBudget(db: Kysely<Database>, config: Config, nowMs = Date.now()): Promise<RateBudget> {
  return labelled(await readRateBudget(db, budgetCeilingsOf(config), nowMs));
}

const count = (n: number) => n.toLocaleString('en-US');
const rate = (n: number) =>
  n === 0 ? '0' : n >= 10 ? String(Math.round(n)) : n >= 1 ? n.toFixed(1) : n >= 0.01 ? n.toFixed(2) : n.toFixed(4);
const percent = (ratio: number) => `${ratio >= 0.1 ? Math.round(ratio * 100) : (ratio * 100).toFixed(1)}%`;
const seconds = (s: number | null) => (s === null ? 'never' : `${s >= 10 ? Math.round(s) : Math.round(s * 10) / 10} s`);

/** What to run to fit: a sentence, or undefined when nothing of the set's own would. */
export function suggestionText(s: SetBudget): string | undefined {
  const fix = s.suggestion;
  if (!fix) return undefined;
  const schedule = fix.schedule
    ? `presence sets update ${s.set} --schedule '${fix.schedule.schedule}'${fix.schedule.gapSeconds ? ` --gap ${fix.schedule.gapSeconds}` : ''}`
    : undefined;
  const gap = fix.gapSeconds
    ? `${schedule ? 'or keep the schedule with ' : ''}presence sets update ${s.set} --gap ${fix.gapSeconds}${s.skipsTicks ? ' (ticks are still skipped)' : ''}`
    : undefined;
  return [schedule, gap].filter((x) => x !== undefined).join(', ');
}

/** One line per bucket over its ceiling and per set past its gap threshold, among the buckets of `sets` (all when undefined). */
export function budgetWarnings(budget: RateBudget, sets?: readonly string[]): string[] {
  const touched = new Set(budget.sets.filter((s) => sets === undefined || sets.includes(s.set)).map((s) => s.bucket));
  const lines: string[] = [];
  for (const b of budget.buckets) {
    if (!touched.has(b.bucket) || b.demandRatio <= 1) continue;
    lines.push(
      `rate bucket ${b.bucket} is over budget: the schedules of ${b.sets.join(', ')} ask for ${rate(b.demandRps)} calls/s, ${percent(b.demandRatio)} of what its ceiling allows (${rate(b.usableRps)} of ${b.ceilingRps} calls/s, over the limiter's 1010 ms window); cycles run long and ticks are skipped`,
    );
  }
  for (const s of budget.sets) {
    if (!touched.has(s.bucket) || !s.overBudget) continue;
    const fix = suggestionText(s);
    lines.push(
      `set ${s.set}: ${s.reason ?? 'over budget'}${fix ? `. Fits: ${fix}` : '. Nothing of its own fits: slow down the other sets of its bucket, or raise the ceiling if the provider granted more'}`,
    );
  }
  return lines;
}

/** Prints the warnings of `sets` on stderr (the change is made; the exit code stays 0). */
export async function warnAboutBudget(
  io: CommandIO,
  command: string,
  db: Kysely<Database>,
  config: Config,
  sets: readonly string[],
): Promise<void> {
  for (const line of budgetWarnings(await currentBudget(db, config), sets)) io.err(`${command}: warning: ${line}`);
}

function bucketRows(buckets: BucketBudget[]): string[][] {
  return buckets.map((b) => [
    b.bucket,
    b.api,
    `${b.ceilingRps}/s`,
    b.sets.join(','),
    count(b.users),
    count(b.callsPerCycle),
    rate(b.demandRps),
    `${percent(b.demandRatio)}${b.demandRatio > 1 ? ' OVER' : ''}`,
  ]);
}

function setRows(sets: SetBudget[]): string[][] {
  return sets.map((s) => [
    s.set,
    s.bucket,
    s.schedule,
    s.enabled ? 'yes' : 'no',
    count(s.users),
    count(s.callsPerCycle),
    s.problem ? '-' : seconds(s.shortestCycleSeconds),
    // Rounded up, as the warnings say it: the gap threshold must hold for the worst of them.
    s.problem ? '-' : seconds(s.observationSpacingSeconds === null ? null : Math.ceil(s.observationSpacingSeconds)),
    s.gapSeconds === null ? '-' : `${s.gapSeconds} s`,
    s.problem
      ? 'INVALID'
      : !s.enabled
        ? 'disabled'
        : !s.gapHolds
          ? 'NO'
          : s.skipsTicks
            ? 'yes, skips ticks'
            : s.overBudget
              ? 'yes, bucket over'
              : 'yes',
  ]);
}

/** The budget as tables and lines for people. */
export function formatPlan(budget: RateBudget): string[] {
  if (budget.sets.length === 0) return ['no watch sets yet: presence sets add NAME --provider tencent --app APPID'];
  const lines = [
    ...formatTable(
      ['bucket', 'api', 'ceiling', 'sets', 'users', 'calls/cycle', 'demand/s', 'of ceiling'],
      bucketRows(budget.buckets),
    ),
    '',
    ...formatTable(
      ['set', 'bucket', 'schedule', 'enabled', 'users', 'calls', 'shortest cycle', 'seen apart', 'gap', 'gap holds'],
      setRows(budget.sets),
    ),
    '',
    'demand: calls/s the schedules ask for, against the ceiling over the limiter’s 1010 ms window. shortest cycle: given',
    'what the bucket’s other sets ask. seen apart: how far apart its users are observed, with a margin for latency.',
  ];
  const problems = [
    ...budget.sets.filter((s) => s.problem).map((s) => `set ${s.set} is not polled: ${s.problem}`),
    ...budgetWarnings(budget),
  ];
  if (problems.length > 0) lines.push('', ...problems);
  return lines;
}

/** The section of `presence status`: the buckets, and what is over budget. */
export function budgetSection(budget: RateBudget): string[] {
  if (budget.buckets.length === 0) return [];
  return [
    '',
    'rate budget (presence plan has each set):',
    ...formatTable(
      ['bucket', 'api', 'ceiling', 'sets', 'users', 'calls/cycle', 'demand/s', 'of ceiling'],
      bucketRows(budget.buckets),
    ),
    ...budgetWarnings(budget).map((line) => `WARNING: ${line}`),
  ];
}

/** The budget for `--json` (and `status --json`): numbers rounded to what they mean. */
export function budgetJson(budget: RateBudget): unknown {
  const r3 = (n: number | null) => (n === null ? null : Math.round(n * 1000) / 1000);
  return {
    buckets: budget.buckets.map((b) => ({
      ...b,
      usableRps: r3(b.usableRps),
      demandRps: r3(b.demandRps),
      demandRatio: r3(b.demandRatio),
    })),
    sets: budget.sets.map((s) => ({
      ...s,
      demandRps: r3(s.demandRps),
      shortestCycleSeconds: r3(s.shortestCycleSeconds),
      observationSpacingSeconds: r3(s.observationSpacingSeconds),
    })),
  };
}

/** Defines `presence plan [--json]`: the rate budget of every bucket and set. */
export function planCommand(program: Command, run: CommandRun): void {
  program
    .command('plan')
    .description(
      'the rate budget: per bucket the demand of its schedules against the ceiling, per set whether its gap threshold can hold, and what fits (read-only)',
    )
    .option('--json', 'the same as one JSON document', false)
    .action(action(run, (values: { json: boolean }) => plan(values, run.io)));
}

async function plan(values: { json: boolean }, io: CommandIO): Promise<number> {
  return withDatabase(
    io,
    async ({ database, config }) => {
      await requireMigrated(database.db);
      const now = new Date();
      const budget = await currentBudget(database.db, config, now.getTime());
      if (values.json)
        io.out(JSON.stringify({ generatedAt: now.toISOString(), ...(budgetJson(budget) as object) }, null, 2));
      else for (const line of formatPlan(budget)) io.out(line);
      return 0;
    },
    { migrate: false },
  );
}
