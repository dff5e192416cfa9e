// The daemon under provider trouble that is not random: a provider refusing calls for its rate
// ceiling (the poller must slow down and still record every batch), and one app misconfigured
// among healthy ones (that app alone stops, with one log line a cycle naming the setting to fix).
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { recordCycles, testConfig } from '../helpers/daemon.js';
import { startDaemon } from '../../src/daemon.js';
import type { CycleSummary } from '../../src/events.js';
import { startSimulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { asTransitions, readHistory, usersNotExplained } from '../helpers/expected-history.js';
import { sleep } from '../helpers/time.js';

const KEY = 'daemon-reliability-key-0123456789';
const users = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`);

/** A logger whose JSON lines are kept for assertions. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('info', stream), lines };
}

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

describe(`reliability: rate-limit refusals (${DATABASE_KIND})`, () => {
  const APP = '1400000501';
  const USERS = users('r', 8_000);
  const cycles: CycleSummary[] = [];
  const rates: number[] = [];
  let stats: { calls: number; refused: number; maxInAnyWindow: number } | undefined;
  let answers: Awaited<ReturnType<typeof startSimulator>>['answers'] = [];
  let stoppedAt = new Date(0);

  beforeAll(async () => {
    // The provider's real ceiling (10/s) is half what the poller was told (20/s).
    const simulator = await startSimulator({
      secretKey: KEY,
      world: new PresenceWorld({ seed: 'refusals', meanDwellMs: 4_000 }),
      rps: { querystate: 10 },
      latencyMs: { medianMs: 5, tailMs: 20 },
    });
    try {
      await addWatchSet(database.db, { name: 'refused', provider: 'tencent', appId: APP, schedule: '*/3 * * * * *' });
      await addWatchedUsers(database.db, 'refused', USERS);
      const config = testConfig({ TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url, TIM_QUERYSTATE_RPS: '20' });
      const { logger } = capturingLogger();
      const events = recordCycles(cycles);
      events.on('limiter.rate', ({ rate }) => rates.push(rate));
      const daemon = await startDaemon({ config, logger, database, events });
      await sleep(13_000);
      stoppedAt = new Date();
      await daemon.stop();
      stats = simulator.stats().find((s) => s.appId === APP && s.api === 'querystate');
      answers = simulator.answers;
    } finally {
      await simulator.close();
    }
  }, 60_000);

  it('lowered its rate after refusals, and never let the provider admit more than its ceiling', () => {
    expect(stats!.refused).toBeGreaterThan(0);
    // Configured at 20, the limiter cut its rate (a share of the calls refused together is a lower
    // ceiling, not jitter) to near the provider's real 10: at 11 a window, the margin it widened
    // meanwhile keeps it under 10 a second (src/poll/sliding-window-limiter.ts).
    expect(Math.min(...rates)).toBeLessThanOrEqual(11);
    expect(stats!.maxInAnyWindow).toBeLessThanOrEqual(10);
  });

  it('retried every refused batch: every cycle observed every user', () => {
    // A cycle still running when the daemon was stopped is cut short by design (its batches not
    // yet started are abandoned): every cycle that ended before the stop observed everyone.
    const finished = cycles.filter((c) => c.finishedAt < stoppedAt);
    expect(cycles.length - finished.length).toBeLessThanOrEqual(1);
    expect(finished.length).toBeGreaterThanOrEqual(3);
    expect(finished.reduce((n, c) => n + c.refusals, 0)).toBeGreaterThan(0);
    for (const c of finished)
      expect(c).toMatchObject({ status: 'ok', users: USERS.length, observed: USERS.length, failed: 0 });
  });

  it('recorded exactly the changes in what the simulator answered', async () => {
    const rows = await readHistory(database.db, APP);
    expect(
      usersNotExplained(
        asTransitions(rows),
        answers.filter((a) => a.appId === APP),
        () => false,
        9_000,
        1_500,
      ),
    ).toEqual([]);
  });
});

describe(`reliability: one app misconfigured among healthy ones (${DATABASE_KIND})`, () => {
  const BROKEN = '1400000601';
  const HEALTHY = '1400000602';
  const cycles: CycleSummary[] = [];
  let lines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    // The provider knows BROKEN by another key than the poller's: every UserSig for it is refused.
    const simulator = await startSimulator({
      secretKey: (app) => (app === BROKEN ? 'the-key-in-the-console' : KEY),
      world: new PresenceWorld({ seed: 'config' }),
      rps: { querystate: 50 },
    });
    try {
      for (const [name, app] of [
        ['broken', BROKEN],
        ['healthy', HEALTHY],
      ] as const) {
        await addWatchSet(database.db, { name, provider: 'tencent', appId: app, schedule: '* * * * * *' });
        await addWatchedUsers(database.db, name, users(name, 1_500));
      }
      const config = testConfig({ TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url, TIM_QUERYSTATE_RPS: '50' });
      const capture = capturingLogger();
      lines = capture.lines;
      const daemon = await startDaemon({ config, logger: capture.logger, database, events: recordCycles(cycles) });
      await sleep(5_500);
      await daemon.stop();
    } finally {
      await simulator.close();
    }
  }, 60_000);

  it('kept polling the healthy app', () => {
    // (The cycle that daemon.stop() cut short, if any, is `interrupted`.)
    const healthy = cycles.filter((c) => c.set === 'healthy' && c.status !== 'interrupted');
    expect(healthy.length).toBeGreaterThanOrEqual(3);
    expect(healthy.every((c) => c.status === 'ok')).toBe(true);
  });

  it('stopped calling the broken app: one probe a cycle after the first', () => {
    const broken = cycles.filter((c) => c.set === 'broken' && c.status !== 'interrupted');
    expect(broken.length).toBeGreaterThanOrEqual(3);
    expect(broken.every((c) => c.status === 'failed' && c.fatal?.setting === 'TIM_SECRET_KEY')).toBe(true);
    expect(broken.slice(1).every((c) => c.calls === 1)).toBe(true);
  });

  it('logged one error line per cycle naming the setting to fix, and nothing per batch', () => {
    const errors = lines.filter((l) => l['set'] === 'broken' && l['level'] === 'error');
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(errors).toHaveLength(cycles.filter((c) => c.set === 'broken' && c.fatal !== undefined).length);
    for (const e of errors) {
      expect(e['setting']).toBe('TIM_SECRET_KEY'); // the variable in use (not TIM_SECRET_KEY_<app>)
      expect(String(e['msg'])).toContain(`not polling tencent app ${BROKEN}`);
    }
    expect(lines.filter((l) => l['set'] === 'broken' && l['msg'] === 'batch failed')).toHaveLength(0);
    // The key itself is never logged.
    expect(JSON.stringify(lines)).not.toContain(KEY);
  });
});
