// The daemon's log stays free of Node warnings with many calls in flight. Every call, backoff and
// limiter wait used to add its own abort listener to the daemon's one shutdown signal: with 32
// calls in flight per set, Node printed "MaxListenersExceededWarning: Possible EventTarget memory
// leak detected. 11 abort listeners added to [AbortSignal]" (first seen in `presence demo`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { openDatabase } from '../../src/db/connect.js';
import { migrate } from '../../src/db/migrator.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { createCliTarget, type CliTarget } from '../helpers/cli.js';
import { startDaemonProcess, stopProcess, type DaemonProcess } from '../helpers/daemon-process.js';

const KEY = 'abort-listeners-key-0123456789abcdef';
const VOLC = { accessKeyId: 'AKLISTEN', secretAccessKey: 'abort-listeners-volc-secret' };
// Two sets of 32 batches, each answered after about 300 ms: at 100 calls/s some 30 are in flight at once.
const TENCENT_USERS = Array.from({ length: 32 * 500 }, (_, i) => `l-${String(i).padStart(5, '0')}`);
const VOLC_USERS = Array.from({ length: 32 * 100 }, (_, i) => String(1_000_000 + i));

let target: CliTarget;
let simulator: Simulator;
let daemon: DaemonProcess | undefined;

beforeAll(async () => {
  target = await createCliTarget();
  simulator = await startSimulator({
    secretKey: KEY,
    world: new PresenceWorld({ seed: 'abort-listeners', meanDwellMs: 5_000 }),
    logAnswers: false,
    latencyMs: 300,
    volcengine: { accounts: [VOLC] },
  });
  const env = {
    ...target.baseEnv(),
    TIM_SECRET_KEY: KEY,
    TIM_ENDPOINT: simulator.url,
    VOLC_ACCESS_KEY_ID: VOLC.accessKeyId,
    VOLC_SECRET_ACCESS_KEY: VOLC.secretAccessKey,
    VOLC_ENDPOINT: simulator.url,
    PRESENCE_CONCURRENCY: '32',
  };
  const sets: [string, 'tencent' | 'volcengine', string, string[]][] = [
    ['many', 'tencent', '1400000801', TENCENT_USERS],
    ['many-volc', 'volcengine', '801', VOLC_USERS],
    // And a dozen small sets whose cycles run at the same moments: each cycle listened to the
    // daemon's stop signal on its own.
    ...Array.from({ length: 12 }, (_, i): [string, 'tencent', string, string[]] => [
      `small-${i}`,
      'tencent',
      '1400000802',
      [`s-${i}`],
    ]),
  ];
  // Written directly: a CLI run per set would open the embedded database 28 times.
  const database = await openDatabase(
    target.database ? { databaseUrl: target.baseEnv().DATABASE_URL } : { dataDir: target.dataDir },
  );
  try {
    await migrate(database.db);
    for (const [name, provider, appId, users] of sets) {
      await addWatchSet(database.db, { name, provider, appId, schedule: '*/5 * * * * *', detail: true });
      await addWatchedUsers(database.db, name, users);
    }
  } finally {
    await database.close();
  }
  daemon = startDaemonProcess(env);
  for (const [name] of sets)
    await daemon.waitForLine((l) => l.msg === 'cycle finished' && l.set === name && l.status === 'ok', 45_000);
  const exit = await stopProcess(daemon, 'SIGTERM');
  expect(exit.code).toBe(0);
}, 90_000);

afterAll(async () => {
  if (daemon) await stopProcess(daemon, 'SIGKILL').catch(() => undefined);
  await simulator?.close();
  await target?.close();
});

describe('abort listeners', () => {
  it('had many calls in flight at once', () => {
    const ends = simulator.calls.map((c) => c.atMs);
    const inFlight = Math.max(...ends.map((t) => ends.filter((u) => u >= t && u < t + 300).length));
    expect(inFlight).toBeGreaterThan(10);
  });

  it('printed no MaxListenersExceededWarning', () => {
    expect(daemon?.text() ?? '').not.toMatch(/MaxListenersExceeded|memory leak/);
  });

  // On Postgres the poll-lock session (src/poll/poll-locks.ts) is sent the tryHold queries of sets
  // that tick together at once, and pg prints a DeprecationWarning for that: not an abort listener,
  // reported to the owners of that file.
  it.skipIf(process.env.TEST_DATABASE_URL !== undefined)('printed no Node warning at all', () => {
    expect(daemon?.text() ?? '').not.toMatch(/Warning/);
    expect(daemon?.lines.filter((l) => /Warning/.test(JSON.stringify(l))) ?? []).toEqual([]);
  });
});
