// `presence simulate` as an operator runs it, polled by the real Tencent client.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { TencentClient, type TencentClientOptions } from '../../src/providers/tencent/client.js';
import { simulateCommand } from '../../src/commands/simulate.js';
import { DailyRhythm } from '../../src/simulator/daily-rhythm.js';

/** Starts `presence simulate` on a free port with `args`, and a real Tencent client pointed at it. */
async function startSimulate(key: string, args: string[]) {
  const lines: string[] = [];
  const stop = new AbortController();
  const env = { TIM_SECRET_KEY: key };
  const exit = simulateCommand(['--port', '0', ...args], {
    env,
    stdout: (l) => lines.push(l),
    stderr: (l) => lines.push(l),
    signal: stop.signal,
  });
  for (let i = 0; i < 50 && !lines.some((l) => l.includes('listening on')); i++)
    await new Promise((r) => setTimeout(r, 50));
  const url = /https?:\/\/127\.0\.0\.1:\d+/.exec(lines.join('\n'))?.[0];
  expect(url, lines.join('\n')).toBeDefined();
  const caFile = args.includes('--https') ? args[args.indexOf('--https') + 1] : undefined;
  const config = loadConfig({
    ...env,
    TIM_ENDPOINT: url,
    ...(caFile === undefined ? {} : { PRESENCE_CA_FILE: caFile }),
  });
  return { lines, stop, exit, config, client: clientOf(config), url: url!, env };
}

/** A real Tencent client of app 1400000001 as `config` sets it up, with `changes` on top. */
function clientOf(config: Config, changes: Partial<TencentClientOptions> = {}): TencentClient {
  return new TencentClient({
    sdkAppId: '1400000001',
    admin: config.tencent.admin,
    secretKey: config.tencent.secretKeyFor('1400000001'),
    endpoint: config.tencent.endpoint,
    stateApi: 'querystate',
    http: config.http,
    ...changes,
  });
}

describe('presence simulate', () => {
  it('serves querystate to the real client until stopped, then exits 0', async () => {
    const { stop, exit, config, client } = await startSimulate('simulate-test-key', ['--seed', 'cmd', '--rps', '50']);
    try {
      const result = await client.queryState(['a', 'b', 'c'], { detail: true });
      expect(result.observations.map((o) => o.userId).sort()).toEqual(['a', 'b', 'c']);
      expect(
        result.observations.every((o) => ['Online', 'PushOnline', 'Offline'].includes(o.state) && o.platforms !== null),
      ).toBe(true);
      // A client with the wrong key is refused with the code Tencent uses.
      const wrong = clientOf(config, { secretKey: 'not-the-key' });
      await expect(wrong.queryState(['a'], { detail: false })).rejects.toMatchObject({
        code: 'ERR_PROVIDER_FATAL',
        providerCode: 70009,
      });
      await wrong.close();
    } finally {
      await client.close();
      stop.abort();
    }
    expect(await exit).toBe(0);
  });

  it('--https serves over TLS with a certificate the poller trusts through PRESENCE_CA_FILE, and no other', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'simulate-https-'));
    const caFile = join(dir, 'ca.pem');
    const { lines, stop, exit, client, url, config } = await startSimulate('simulate-https-key', ['--https', caFile]);
    try {
      expect(url.startsWith('https://127.0.0.1:')).toBe(true);
      expect(lines.join('\n')).toContain(`certificate is in ${caFile} (PRESENCE_CA_FILE`);
      const pem = await readFile(caFile, 'utf8');
      expect(pem).toContain('-----BEGIN CERTIFICATE-----');
      expect(pem).not.toContain('PRIVATE KEY');
      const result = await client.queryState(['a', 'b'], { detail: false });
      expect(result.observations.map((o) => o.userId).sort()).toEqual(['a', 'b']);
      // Without the file the certificate is not trusted: the call fails below HTTP.
      const untrusting = clientOf(config, { http: { ...config.http, ca: undefined } });
      await expect(untrusting.queryState(['a'], { detail: false })).rejects.toMatchObject({
        code: 'ERR_PROVIDER_NETWORK',
      });
      await untrusting.close();
    } finally {
      await client.close();
      stop.abort();
      await exit;
      await rm(dir, { recursive: true, force: true });
    }
    expect(await exit).toBe(0);
  });

  it('without TIM_SECRET_KEY refuses with exit 2 and says what to set', async () => {
    const lines: string[] = [];
    expect(await simulateCommand([], { env: {}, stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) })).toBe(2);
    expect(lines.join('\n')).toContain('Set TIM_SECRET_KEY');
  });
  it("--world rhythm answers as the demo history's model: the same users, the same states", async () => {
    const { lines, stop, exit, client, env } = await startSimulate('simulate-rhythm-key', [
      '--seed',
      'month',
      '--world',
      'rhythm',
      '--world-days',
      '20',
    ]);
    const users = Array.from({ length: 200 }, (_, i) => `r${i}`);
    const day = 86_400_000;
    const rhythm = new DailyRhythm({ seed: 'month', startMs: Math.floor(Date.now() / day) * day - 20 * day, days: 20 });
    try {
      const before = Date.now();
      const result = await client.queryState(users, { detail: false });
      const after = Date.now();
      // A state may change between the two instants; the users who did not are compared.
      const steady = users.filter(
        (u) => rhythm.stateAt('1400000001', u, before).state === rhythm.stateAt('1400000001', u, after).state,
      );
      expect(steady.length).toBeGreaterThan(190);
      const answered = new Map(result.observations.map((o) => [o.userId, o.state]));
      for (const u of steady) expect(answered.get(u), u).toBe(rhythm.stateAt('1400000001', u, before).state);
    } finally {
      await client.close();
      stop.abort();
    }
    expect(await exit).toBe(0);
    const bad = await simulateCommand(['--world', 'flat'], { env, stdout: () => {}, stderr: (l) => lines.push(l) });
    expect(bad).toBe(2);
    expect(lines.join('\n')).toContain('--world must be random or rhythm, got "flat"');
  });
});
