// `presence simulate --callback-url ...` pushes signed State.StateChange callbacks.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCallbackBody } from '../../src/callbacks/parse.js';
import { verifyCallbackSign } from '../../src/callbacks/sign.js';
import { simulateCommand } from '../../src/commands/simulate.js';
import { closeServer, listenLocal } from '../helpers/local-server.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'presence-simulate-callbacks-'));
  await writeFile(join(dir, 'users.txt'), Array.from({ length: 20 }, (_, i) => `u${i}`).join('\n') + '\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('presence simulate --callback-url', () => {
  it('posts signed State.StateChange events as users change state, and bad signatures on demand', async () => {
    const received: Array<{ signed: boolean; action: string; userId: string; eventTime: number }> = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const query = new URL(req.url ?? '/', 'http://x').searchParams;
        const parsed = parseCallbackBody(query.get('SdkAppid') ?? '', query, Buffer.concat(chunks).toString('utf8'));
        if (parsed.kind === 'state-change') {
          const signed = verifyCallbackSign('sim-token', query.get('RequestTime') ?? '', query.get('Sign') ?? '');
          received.push({
            signed,
            action: parsed.event.action,
            userId: parsed.event.userId,
            eventTime: parsed.event.eventTimeMs,
          });
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}');
      });
    });
    const base = await listenLocal(server);
    const stop = new AbortController();
    const lines: string[] = [];
    const env = { TIM_SECRET_KEY: 'k', TIM_CALLBACK_TOKEN: 'sim-token' };
    const args = [
      '--dwell-ms',
      '300',
      '--callback-url',
      `${base}/tim/callback`,
      '--callback-app',
      '1400000001',
      '--callback-users',
      join(dir, 'users.txt'),
      '--callback-bad-sign',
      '0.3',
    ];
    const exit = simulateCommand(args, {
      env,
      stdout: (l) => lines.push(l),
      stderr: (l) => lines.push(l),
      signal: stop.signal,
    });
    try {
      for (let i = 0; i < 100 && received.length < 40; i++) await new Promise((r) => setTimeout(r, 50));
    } finally {
      stop.abort();
    }
    expect(await exit).toBe(0);
    await closeServer(server);
    expect(lines.join('\n')).toContain(`sends State.StateChange callbacks to ${base}/tim/callback`);
    expect(received.length).toBeGreaterThanOrEqual(40);
    expect(received.some((r) => r.signed) && received.some((r) => !r.signed)).toBe(true);
    expect(new Set(received.map((r) => r.action))).toEqual(new Set(['Login', 'Logout', 'Disconnect']));
    expect(received.every((r) => /^u\d+$/.test(r.userId) && r.eventTime <= Date.now())).toBe(true);
  });

  it('says which option or variable is missing', async () => {
    const run = async (args: string[], env: Record<string, string>) => {
      const lines: string[] = [];
      const code = await simulateCommand(args, {
        env: { TIM_SECRET_KEY: 'k', ...env },
        stdout: (l) => lines.push(l),
        stderr: (l) => lines.push(l),
      });
      return { code, text: lines.join('\n') };
    };
    const users = join(dir, 'users.txt');
    const base = ['--callback-url', 'http://127.0.0.1:1/cb', '--callback-app', '1400000001', '--callback-users', users];
    const cases: Array<[string[], Record<string, string>, string]> = [
      [base, {}, 'Set TIM_CALLBACK_TOKEN'],
      [['--callback-app', '1400000001'], { TIM_CALLBACK_TOKEN: 't' }, '--callback-app needs --callback-url'],
      [
        ['--callback-url', 'http://127.0.0.1:1/cb', '--callback-users', users],
        { TIM_CALLBACK_TOKEN: 't' },
        '--callback-app must be',
      ],
      [
        [...base, '--callback-reorder', '2'],
        { TIM_CALLBACK_TOKEN: 't' },
        '--callback-reorder must be a share between 0 and 1',
      ],
    ];
    for (const [args, env, message] of cases) {
      const { code, text } = await run(args, env);
      expect(code).toBe(2);
      expect(text).toContain(message);
    }
  });
});
