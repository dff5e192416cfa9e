// With a known Tencent secret key, a known Volcengine secret key, and the UserSigs and signatures the
// clients actually sent, nothing a user or operator can see contains them: the daemon's logs, every
// command's output and errors, poll_cycle.error, /metrics, /healthz and `presence status`. The
// provider here is hostile on purpose: its error answers quote the request URL (with the usersig)
// and the Authorization header (with the signature).
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { createCliTarget, requireBuiltCli, runBuiltCli, type CliTarget, type Env } from '../helpers/cli.js';
import { DATABASE_KIND } from '../helpers/database.js';
import { sleep } from '../helpers/time.js';

const TIM_KEY = 'KNOWN-tim-secret-key-5bd2850fff3ecb11d7c8';
const VOLC_AK = 'AKLTknownaccesskey';
const VOLC_SK = 'KNOWN-volc-secret-access-key-0123456789';
const TIM_APP = '1400000123';
const VOLC_APP = '4242';

const userSigs = new Set<string>();
const signatures = new Set<string>();
let provider: Server;
let providerUrl: string;
let target: CliTarget;
let env: Env;
/** Everything a person or a scraper could read, by where it came from. */
const seen: Array<{ source: string; text: string }> = [];

/** A provider that records the credentials it is sent and quotes them back in its errors. */
async function startLeakyProvider(): Promise<void> {
  let calls = 0;
  provider = createServer((req, res) => {
    calls++;
    const url = new URL(req.url ?? '/', 'http://x');
    const sig = url.searchParams.get('usersig');
    if (sig) userSigs.add(sig);
    const auth = req.headers.authorization ?? '';
    const signature = /Signature=([0-9a-f]+)/.exec(auth)?.[1];
    if (signature) signatures.add(signature);
    req.resume();
    req.on('end', () => {
      if (url.pathname === '/') {
        // Volcengine: an error quoting the Authorization header, or a 500 quoting it in plain text.
        if (calls % 2 === 0) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`upstream failed for ${auth}`);
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              ResponseMetadata: {
                RequestId: 'r',
                Action: 'QueryOnlineStatus',
                Version: '2020-12-01',
                Error: { Code: 'InternalError', Message: `internal error, request ${auth}` },
              },
            }),
          );
        }
        return;
      }
      // Tencent: a transient ErrorCode whose ErrorInfo quotes the URL, a 502 quoting it, and a
      // fatal illegal-sig answer quoting it.
      const kind = calls % 3;
      if (kind === 0) res.writeHead(502, { 'content-type': 'text/plain' }).end(`bad gateway for ${req.url}`);
      else {
        const code = kind === 1 ? 91000 : 70003;
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ActionStatus: 'FAIL', ErrorCode: code, ErrorInfo: `rejected ${req.url} sig=${sig}` }));
      }
    });
  });
  await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
  providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
}

async function cli(argv: string[], stdin?: string): Promise<void> {
  const result = await runBuiltCli(argv, stdin === undefined ? env : { ...env });
  seen.push({ source: `presence ${argv.join(' ')}`, text: `${result.stdout}\n${result.stderr}` });
}

/** Runs `presence run` for a few cycles, reading /metrics and /healthz while it runs. */
async function runDaemon(port: number): Promise<void> {
  const child = spawn(process.execPath, [requireBuiltCli(), 'run'], {
    env: { PATH: process.env.PATH, ...env, PRESENCE_HTTP: `127.0.0.1:${port}`, LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  try {
    for (let i = 0; i < 100 && !out.includes('operations HTTP listening'); i++) await sleep(100);
    await sleep(4_000);
    for (const path of ['/metrics', '/healthz']) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      seen.push({ source: path, text: await res.text() });
    }
  } finally {
    child.kill('SIGINT');
    await exited;
    seen.push({ source: 'presence run (stdout and stderr)', text: out });
  }
}

beforeAll(async () => {
  await startLeakyProvider();
  target = await createCliTarget();
  env = {
    ...target.baseEnv(),
    TIM_SECRET_KEY: TIM_KEY,
    TIM_ENDPOINT: providerUrl,
    VOLC_ACCESS_KEY_ID: VOLC_AK,
    VOLC_SECRET_ACCESS_KEY: VOLC_SK,
    VOLC_ENDPOINT: providerUrl,
    // Quick retries so the commands finish within a few seconds.
    PRESENCE_HEADERS_TIMEOUT_MS: '2000',
  };
  await cli(['sets', 'add', 'tim', '--provider', 'tencent', '--app', TIM_APP, '--schedule', '* * * * * *']);
  await cli(['sets', 'add', 'volc', '--provider', 'volcengine', '--app', VOLC_APP, '--schedule', '* * * * * *']);
  const file = `${target.dataDir ?? '/tmp'}/../presence-secrets-users-${process.pid}.txt`;
  const { writeFile, rm } = await import('node:fs/promises');
  await writeFile(file, Array.from({ length: 20 }, (_, i) => `u${i}`).join('\n'));
  await cli(['users', 'add', 'tim', file]);
  await writeFile(file, Array.from({ length: 20 }, (_, i) => String(1000 + i)).join('\n'));
  await cli(['users', 'add', 'volc', file]);
  await rm(file, { force: true });
  await cli(['poll', 'tim']);
  await cli(['poll', 'volc']);
  await cli(['check-accounts', 'tim']);
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  await runDaemon(port);
  // The daemon's last cycles may be interrupted by its stop (a tick every second): one more failed
  // poll of each set, so that status shows a failed cycle and its scrubbed error whenever it stops.
  await cli(['poll', 'tim']);
  await cli(['poll', 'volc']);
  await cli(['status']);
  await cli(['status', '--json']);
  const db: DatabaseHandle = target.database ?? (await openDatabase({ dataDir: target.dataDir! }));
  try {
    const rows = await db.db.selectFrom('poll_cycle').select(['set', 'error']).execute();
    seen.push({ source: 'poll_cycle.error', text: rows.map((r) => `${r.set}: ${r.error}`).join('\n') });
  } finally {
    if (db !== target.database) await db.close();
  }
}, 120_000);

afterAll(async () => {
  await new Promise((resolve) => provider?.close(resolve));
  provider?.closeAllConnections();
  await target?.close();
});

describe(`secrets stay secret (${DATABASE_KIND})`, () => {
  it('the credentials were really in play, and the errors that quoted them were reported', () => {
    expect(userSigs.size).toBeGreaterThan(0);
    expect(signatures.size).toBeGreaterThan(0);
    const all = seen.map((s) => s.text).join('\n');
    // The provider's quoting answers reached the output (scrubbed), so the test looks at real leaks.
    expect(all).toContain('ERR_PROVIDER');
    expect(all).toMatch(/presence_provider_calls_total\{[^}]*outcome="ERR_PROVIDER/);
    expect(all).toContain('"status": "failed"');
    expect(seen.find((s) => s.source === 'poll_cycle.error')!.text).toContain('ERR_PROVIDER');
  });

  it('no key, UserSig or signature in logs, errors, poll_cycle, metrics, health or status', () => {
    const secrets = [TIM_KEY, VOLC_SK, ...userSigs, ...signatures];
    for (const { source, text } of seen) {
      for (const secret of secrets) {
        expect(text.includes(secret), `${source} contains ${secret.slice(0, 12)}…:\n${text.slice(0, 3000)}`).toBe(
          false,
        );
      }
    }
  });
});
