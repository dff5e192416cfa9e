// `presence simulate` as an operator runs it, polled by the real Tencent client.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { TencentClient } from '../../src/providers/tencent/client.js';
import { simulateCommand } from '../../src/commands/simulate.js';

describe('presence simulate', () => {
  it('serves querystate to the real client until stopped, then exits 0', async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    const env = { TIM_SECRET_KEY: 'simulate-test-key' };
    const exit = simulateCommand(['--port', '0', '--seed', 'cmd', '--rps', '50'], {
      env,
      stdout: (l) => lines.push(l),
      stderr: (l) => lines.push(l),
      signal: stop.signal,
    });
    for (let i = 0; i < 50 && !lines.some((l) => l.includes('http://')); i++)
      await new Promise((r) => setTimeout(r, 50));
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(lines.join('\n'))?.[0];
    expect(url, lines.join('\n')).toBeDefined();
    const config = loadConfig({ ...env, TIM_ENDPOINT: url });
    const client = new TencentClient({
      sdkAppId: '1400000001',
      admin: config.tencent.admin,
      secretKey: config.tencent.secretKeyFor('1400000001'),
      endpoint: config.tencent.endpoint,
      stateApi: 'querystate',
      http: config.http,
    });
    try {
      const result = await client.queryState(['a', 'b', 'c'], { detail: true });
      expect(result.observations.map((o) => o.userId).sort()).toEqual(['a', 'b', 'c']);
      expect(
        result.observations.every((o) => ['Online', 'PushOnline', 'Offline'].includes(o.state) && o.platforms !== null),
      ).toBe(true);
      // A client with the wrong key is refused with the code Tencent uses.
      const wrong = new TencentClient({
        sdkAppId: '1400000001',
        admin: 'administrator',
        secretKey: 'not-the-key',
        endpoint: url!,
        stateApi: 'querystate',
        http: config.http,
      });
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

  it('without TIM_SECRET_KEY refuses with exit 2 and says what to set', async () => {
    const lines: string[] = [];
    expect(await simulateCommand([], { env: {}, stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) })).toBe(2);
    expect(lines.join('\n')).toContain('Set TIM_SECRET_KEY');
  });
});
