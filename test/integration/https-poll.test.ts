// A poll over real TLS: the simulator in HTTPS mode with a certificate made at start, the poller
// trusting it through PRESENCE_CA_FILE, as it would a TLS-inspecting proxy's CA in production.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { EventStream } from '../../src/events.js';
import { silentLogger } from '../../src/logger.js';
import { runPollCycle } from '../../src/poll/poll-cycle.js';
import { ProviderRegistry } from '../../src/poll/provider-registry.js';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { addWatchSet, type WatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { createTestDatabase, DATABASE_KIND, type TestDatabase } from '../helpers/database.js';
import { readHistory } from '../helpers/expected-history.js';
import { testConfig } from '../helpers/daemon.js';

const APP = '1400000777';
const KEY = 'https-secret-key-0123456789abcdef';
const USERS = Array.from({ length: 1500 }, (_, i) => `tls-${String(i).padStart(4, '0')}`);

let database: TestDatabase;
let simulator: Simulator;
let set: WatchSet;
let dir: string;

beforeAll(async () => {
  database = await createTestDatabase();
  simulator = await startSimulator({
    secretKey: KEY,
    world: new PresenceWorld({ seed: 'https' }),
    rps: { querystate: 20 },
    latencyMs: 5,
    https: true,
  });
  dir = mkdtempSync(join(tmpdir(), 'presence-ca-'));
  writeFileSync(join(dir, 'ca.pem'), simulator.ca ?? '');
  set = await addWatchSet(database.db, { name: 'tls', provider: 'tencent', appId: APP, schedule: '*/10 * * * * *' });
  await addWatchedUsers(database.db, 'tls', USERS);
}, 60_000);

afterAll(async () => {
  await simulator?.close();
  await database?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function pollOnce(env: Record<string, string>) {
  const config = testConfig({ TIM_SECRET_KEY: KEY, TIM_ENDPOINT: simulator.url, TIM_QUERYSTATE_RPS: '20', ...env });
  const events = new EventStream();
  const registry = new ProviderRegistry(config, { events });
  try {
    return await runPollCycle({
      db: database.db,
      set,
      provider: registry.stateClient('tencent', APP),
      api: 'querystate',
      limiter: registry.stateLimiter('tencent', APP),
      concurrency: config.http.concurrency,
      clock: systemClock,
      events,
      logger: silentLogger(),
      retry: { attempts: 2, baseMs: 1, capMs: 5 },
    });
  } finally {
    await registry.close();
  }
}

describe(`a poll over HTTPS (${DATABASE_KIND})`, () => {
  it('polls every user over TLS when the CA file is trusted, and records their state', async () => {
    expect(simulator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const summary = await pollOnce({ PRESENCE_CA_FILE: join(dir, 'ca.pem') });
    expect(summary).toMatchObject({ status: 'ok', users: USERS.length, observed: USERS.length, failed: 0, calls: 3 });
    const rows = await readHistory(database.db, APP);
    expect(new Set(rows.map((r) => r.user_id)).size).toBe(USERS.length);
    const stats = simulator.stats().find((s) => s.appId === APP && s.api === 'querystate');
    expect(stats).toMatchObject({ calls: 3, refused: 0 });
  });

  it('refuses a server whose certificate it was not told to trust: nothing is observed', async () => {
    const summary = await pollOnce({});
    expect(summary.status).toBe('failed');
    expect(summary.observed).toBe(0);
    expect(summary.failed).toBe(USERS.length);
  });
});
