import { describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { createLogger, scrubLine } from '../../src/logger.js';
import { formatPrettyLine, prettyDestination } from '../../src/output/pretty-log.js';
import { loadConfig } from '../../src/config.js';

const KEY = 'known-secret-key-5bd2850fff3ecb11d7c805';
const SIG = 'eJw1yssKwjAUBNB-uWspaUwfBFzYggstVmgWugwkLZeaGpNQC*K-C43Obs7MG0TTJbN2wIEmBDZrR6WngD2uLJXBCX1wMjzc7';

function capture(secrets: string[] = []): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, logger: createLogger('debug', { write: (l: string) => void lines.push(l) }, secrets) };
}

describe('logger redaction', () => {
  it('removes configured secrets and credential-shaped strings from any field or message', () => {
    const config = loadConfig({
      TIM_SECRET_KEY: KEY,
      VOLC_ACCESS_KEY_ID: 'AK',
      VOLC_SECRET_ACCESS_KEY: 'volc-secret-value',
    });
    const { lines, logger } = capture(config.secretsForRedaction());
    logger.error(
      {
        err: `calling https://x/v4/openim/querystate?sdkappid=1&usersig=${SIG}&random=1 failed`,
        detail: { text: `key ${KEY}` },
      },
      `with key ${KEY}`,
    );
    logger.warn(
      {
        header:
          'HMAC-SHA256 Credential=AK/20250102/cn-north-1/rtc/request, SignedHeaders=host, Signature=35b28f94289c631f46e899d6f2a06cb64f3707d5f5d3db690afa136ab47abdb4',
      },
      'volc',
    );
    logger.info(
      { body: '{"TLS.sig":"XAs8CLpN3OBklSksep5LJm0vTm4PFwtqKTxYOfdvaBg="}', secret: 'volc-secret-value' },
      'sig json',
    );
    logger.info({ secretKey: 'by path', usersig: 'by path too', url: 'https://x/?usersig=a' }, 'paths');
    const all = lines.join('');
    for (const secret of [
      KEY,
      SIG,
      '35b28f94289c631f46e899d6f2a06cb64f3707d5f5d3db690afa136ab47abdb4',
      'XAs8CLpN3OBklSksep5LJm0vTm4PFwtqKTxYOfdvaBg=',
      'volc-secret-value',
      'by path',
    ]) {
      expect(all).not.toContain(secret);
    }
    expect(all).toContain('usersig=[redacted]&random=1');
    expect(all).toContain('Signature=[redacted]');
    // Every line is still JSON.
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it('removes the callback token and the database password (as written, decoded, or JSON-escaped)', () => {
    const token = 'cb-token-with-"quote"-and-\\';
    const config = loadConfig({
      TIM_CALLBACK_TOKEN: token,
      DATABASE_URL: 'postgres://presence:p%40ss-w0rd-9@db.internal:5432/presence',
      PGPASSWORD: 'pgpassword-value',
    });
    const { lines, logger } = capture(config.secretsForRedaction());
    logger.warn({ detail: `token ${token}` }, 'callback');
    logger.error({ err: 'connecting to postgres://presence:p%40ss-w0rd-9@db.internal:5432/presence failed' }, 'db');
    logger.error({ err: 'password p@ss-w0rd-9 rejected; PGPASSWORD was pgpassword-value' }, 'db');
    // Credential-shaped, whether configured or not: another connection string, a callback Sign.
    logger.info(
      {
        other: 'postgresql://reader:not-configured-pass@replica/db',
        target: `/tim/callback?SdkAppid=1&Sign=${'ab12'.repeat(16)}&RequestTime=1`,
      },
      'shapes',
    );
    const all = lines.join('');
    for (const secret of [
      'p%40ss-w0rd-9',
      'p@ss-w0rd-9',
      'pgpassword-value',
      'not-configured-pass',
      'ab12'.repeat(16),
      JSON.stringify(token).slice(1, -1),
      'cb-token-with',
    ])
      expect(all).not.toContain(secret);
    expect(all).toContain('postgres://presence:[redacted]@db.internal');
    expect(all).toContain('Sign=[redacted]&RequestTime=1');
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it('leaves ordinary lines alone', () => {
    const line = '{"level":30,"msg":"cycle finished","set":"vip","users":1200}\n';
    expect(scrubLine(line, ['abcd-not-there'])).toBe(line);
  });
});

describe('pretty logs for a terminal', () => {
  it('renders a JSON line as time, level, message and fields', () => {
    const line = JSON.stringify({
      level: 30,
      time: '2026-01-02T03:04:05.678Z',
      pid: 1,
      set: 'vip',
      status: 'ok',
      durationMs: 812,
      err: 'two words',
      msg: 'cycle finished',
    });
    expect(formatPrettyLine(line, false)).toBe(
      '03:04:05.678 INFO  cycle finished  set=vip status=ok durationMs=812 err="two words"\n',
    );
    expect(formatPrettyLine(line.replace('"level":30', '"level":50'), true)).toContain(
      '\x1b[31mERROR\x1b[0m cycle finished',
    );
    expect(formatPrettyLine('not json', false)).toBe('not json\n');
  });

  it('is a pino destination that receives redacted lines', () => {
    const out: string[] = [];
    const logger = createLogger('info', prettyDestination({ isTTY: false, write: (c: string) => out.push(c) }), [KEY]);
    logger.info({ code: 'ERR_X' }, `failed with ${KEY}`);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}failed with \[redacted\] {2}code=ERR_X\n$/);
  });
});

describe('log lines for operators', () => {
  it('name the level, carry the hostname, and send error lines to the error destination only', () => {
    const out: string[] = [];
    const err: string[] = [];
    const sink = (into: string[]) => ({ write: (line: string) => void into.push(line) });
    const logger = createLogger('info', sink(out), [], sink(err));
    logger.info({ set: 'vip' }, 'cycle finished');
    logger.warn('cycle finished');
    logger.error({ code: 'ERR_CONFIG' }, 'not polling');
    const parsed = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed(out).map((l) => l.level)).toEqual(['info', 'warn']);
    expect(parsed(err)).toEqual([
      expect.objectContaining({ level: 'error', code: 'ERR_CONFIG', hostname: hostname() }),
    ]);
    expect(parsed(out)[0]).toMatchObject({ hostname: hostname(), pid: process.pid });
  });

  it('renders level names for a terminal too', () => {
    const line = JSON.stringify({ level: 'warn', time: '2026-01-02T03:04:05.678Z', msg: 'cycle finished' });
    expect(formatPrettyLine(line, false)).toBe('03:04:05.678 WARN  cycle finished\n');
  });
});
