import type { Command } from 'commander';
import { describeFreshness, readRollupFreshness } from '../analytics/rollup-freshness.js';
import { requireMigrated } from '../db/migrator.js';
import { EMBEDDED_SUPPORTED, embeddedSize, type EmbeddedSize } from '../store/embedded-size.js';
import { readSetStatuses, type SetStatus } from '../store/status.js';
import { gapSecondsOf } from '../store/watch-sets.js';
import { withDatabase, type CommandIO } from './io.js';
import { action, type CommandRun } from './program.js';
import { formatTable } from '../output/table.js';
import { budgetJson, budgetSection, currentBudget } from './plan.js';

/** One set in `status --json`. */
export interface SetStatusView {
  name: string;
  provider: string;
  appId: string;
  schedule: string;
  enabled: boolean;
  /** The effective gap threshold (the set's own, or 3 × its schedule interval); null for an invalid schedule. */
  gapSeconds: number | null;
  users: SetStatus['users'];
  lastCycle: {
    startedAt: string;
    finishedAt: string | null;
    durationSeconds: number | null;
    status: string;
    users: number;
    observed: number;
    failed: number;
    transitions: number;
  } | null;
  lastSuccessAt: string | null;
  /** Seconds since the last successful cycle ended; null when there was none. */
  lagSeconds: number | null;
  /** Enabled, and no successful cycle within the gap threshold. */
  stale: boolean;
  states: SetStatus['states'];
}

/** The status rows with lag and staleness computed at `now`. */
export function statusViews(statuses: SetStatus[], now: Date): SetStatusView[] {
  return statuses.map((s) => {
    let gapSeconds: number | null;
    try {
      gapSeconds = gapSecondsOf({ gap_seconds: s.gapSeconds, schedule: s.schedule });
    } catch {
      gapSeconds = null;
    }
    const c = s.lastCycle;
    const lagSeconds = s.lastSuccessAt
      ? Math.max(0, Math.round((now.getTime() - s.lastSuccessAt.getTime()) / 1000))
      : null;
    return {
      name: s.name,
      provider: s.provider,
      appId: s.appId,
      schedule: s.schedule,
      enabled: s.enabled,
      gapSeconds,
      users: s.users,
      lastCycle: c
        ? {
            startedAt: c.startedAt.toISOString(),
            finishedAt: c.finishedAt?.toISOString() ?? null,
            durationSeconds: c.finishedAt
              ? Math.round((c.finishedAt.getTime() - c.startedAt.getTime()) / 100) / 10
              : null,
            status: c.status,
            users: c.users,
            observed: c.observed,
            failed: c.failed,
            transitions: c.transitions,
          }
        : null,
      lastSuccessAt: s.lastSuccessAt?.toISOString() ?? null,
      lagSeconds,
      stale: s.enabled && (gapSeconds === null || lagSeconds === null || lagSeconds > gapSeconds),
      states: s.states,
    };
  });
}

function ago(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}

/** The status as a table for people. */
export function formatStatus(views: SetStatusView[], now: Date): string[] {
  if (views.length === 0) return ['no watch sets yet: presence sets add NAME --provider tencent --app APPID'];
  const rows = views.map((v) => {
    const c = v.lastCycle;
    const when = c ? `${ago(Math.max(0, Math.round((now.getTime() - Date.parse(c.startedAt)) / 1000)))} ago` : 'never';
    const outcome = c
      ? c.status === 'ok' || c.status === 'running'
        ? c.status
        : `${c.status} ${c.observed}/${c.users}`
      : '-';
    const lag = v.lagSeconds === null ? 'never ok' : ago(v.lagSeconds);
    return [
      v.name,
      `${v.provider} ${v.appId}`,
      v.schedule,
      v.enabled ? 'yes' : 'no',
      String(v.users.total),
      String(v.users.imported),
      String(v.users.notImported),
      String(v.users.unchecked),
      when,
      c?.durationSeconds === null || c === null ? '-' : `${c.durationSeconds} s`,
      outcome,
      v.enabled ? `${lag}${v.stale ? ' STALE' : ''}` : '-',
      String(v.states.Online ?? 0),
      String(v.states.PushOnline ?? 0),
      String(v.states.Offline ?? 0),
      String(v.states.Unknown ?? 0),
    ];
  });
  return [
    ...formatTable(
      [
        'set',
        'app',
        'schedule',
        'enabled',
        'users',
        'Imported',
        'NotImported',
        'unchecked',
        'last cycle',
        'took',
        'outcome',
        'lag',
        'Online',
        'PushOnline',
        'Offline',
        'Unknown',
      ],
      rows,
    ),
    '',
    'lag: time since the last successful cycle (ok, or partial with observations); STALE when longer than the gap threshold.',
  ];
}

/** Defines `presence status [--json]`. */
export function statusCommand(program: Command, run: CommandRun): void {
  program
    .command('status')
    .description(
      'per set: schedule, users by account status, last cycle, lag, current states; the embedded database against its supported size',
    )
    .option('--json', 'the same as one JSON document', false)
    .action(action(run, (values: { json: boolean }) => status(values, run.io)));
}

/** Sets, their users, last cycles, lag and current states. */
async function status(values: { json: boolean }, io: CommandIO): Promise<number> {
  // Only reads: a read-only role runs it, so it checks the schema instead of migrating.
  return withDatabase(
    io,
    async ({ database, config }) => {
      await requireMigrated(database.db);
      const now = new Date();
      const views = statusViews(await readSetStatuses(database.db), now);
      const embedded = database.kind === 'pglite' ? embeddedView(await embeddedSize(database.db)) : undefined;
      // The rate budget's section (src/commands/plan.ts), the numbers of `presence plan`.
      const budget = await currentBudget(database.db, config, now.getTime());
      const rollup = await readRollupFreshness(database.db);
      if (values.json)
        io.out(
          JSON.stringify(
            { generatedAt: now.toISOString(), sets: views, embedded, budget: budgetJson(budget), rollup },
            null,
            2,
          ),
        );
      else {
        for (const line of formatStatus(views, now)) io.out(line);
        io.out(describeFreshness(rollup));
        if (embedded) for (const line of formatEmbedded(embedded)) io.out(line);
        for (const line of budgetSection(budget)) io.out(line);
      }
      // Past the supported size is a warning on stderr too, where a cron job's mail picks it up.
      if (embedded?.pastSupportedSize) io.err(`presence status: ${embeddedWarning(embedded)}`);
      return 0;
    },
    { migrate: false },
  );
}

/** The embedded database's size in `status --json`. */
export interface EmbeddedView extends EmbeddedSize {
  supported: EmbeddedSize;
  pastSupportedSize: boolean;
}

function embeddedView(size: EmbeddedSize): EmbeddedView {
  return {
    ...size,
    supported: EMBEDDED_SUPPORTED,
    pastSupportedSize: size.watchedUsers > EMBEDDED_SUPPORTED.watchedUsers || size.bytes > EMBEDDED_SUPPORTED.bytes,
  };
}

const gb = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(bytes < 1024 ** 3 ? 2 : 1)} GB`;
const users = (n: number) => n.toLocaleString('en-US');

function embeddedWarning(e: EmbeddedView): string {
  return (
    `the embedded database is past its supported size (${users(e.watchedUsers)} watched users, ${gb(e.bytes)}; ` +
    `supported: ${users(e.supported.watchedUsers)} users, ${gb(e.supported.bytes)}). ` +
    'Move it to Postgres: stop the daemon, run presence copy --to postgres://USER@HOST/DB, then set DATABASE_URL (docs/production.md)'
  );
}

function formatEmbedded(e: EmbeddedView): string[] {
  return [
    `embedded database: ${users(e.watchedUsers)} watched users, ${gb(e.bytes)} (supported up to ${users(e.supported.watchedUsers)} users and ${gb(e.supported.bytes)})`,
    ...(e.pastSupportedSize ? [`WARNING: ${embeddedWarning(e)}`] : []),
  ];
}
