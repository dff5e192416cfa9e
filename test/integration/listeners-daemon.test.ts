// `presence run` as a real process, as an operator meets its listeners: a bare port in
// PRESENCE_CALLBACK_LISTEN binds loopback and says so at start, naming the variable (earlier
// versions bound every interface; Tencent does not retry), and a hostile request target reaches
// the log only as one clipped warn line with the callback token scrubbed out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCliTarget, type CliTarget } from '../helpers/cli.js';
import { startDaemonProcess, stopProcess, type DaemonProcess } from '../helpers/daemon-process.js';
import { destroyAllRaw, openRaw } from '../helpers/raw-socket.js';

const TOKEN = 'daemon-callback-token-7d2a9';
let target: CliTarget;
let daemon: DaemonProcess;

beforeAll(async () => {
  target = await createCliTarget();
  daemon = startDaemonProcess({ ...target.baseEnv(), PRESENCE_CALLBACK_LISTEN: '0', TIM_CALLBACK_TOKEN: TOKEN });
  await daemon.waitForLine((l) => l.msg === 'daemon started', 60_000);
});
afterAll(async () => {
  destroyAllRaw();
  if (daemon) await stopProcess(daemon);
  await target?.close();
});

describe('the daemon’s listeners', () => {
  it('binds a bare PRESENCE_CALLBACK_LISTEN port on 127.0.0.1 and warns, naming the variable', async () => {
    const listening = await daemon.waitForLine((l) => l.msg === 'callback receiver listening', 1_000);
    expect(listening).toMatchObject({ host: '127.0.0.1' });
    const warning = daemon.lines.find((l) => l['setting'] === 'PRESENCE_CALLBACK_LISTEN');
    expect(warning).toMatchObject({ level: 'warn', host: '127.0.0.1' });
    expect(warning?.msg).toContain('PRESENCE_CALLBACK_LISTEN=0.0.0.0:');
    expect(warning?.msg).toContain('does not retry');
  });

  it('answers a target that is not a URL with 400, logging one clipped warn line without the token', async () => {
    const listening = await daemon.waitForLine((l) => l.msg === 'callback receiver listening', 1_000);
    const raw = await openRaw(Number(listening['port']));
    const before = daemon.lines.length;
    raw.write(`POST //[?t=${TOKEN}&pad=${'A'.repeat(3_000)} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
    await raw.waitForAnswers(1, 5_000);
    expect(raw.statuses()).toEqual([400]);
    const line = await daemon.waitForLine((l) => l['reason'] === 'malformed', 5_000);
    expect(line['level']).toBe('warn');
    const after = daemon.lines.slice(before);
    expect(after.filter((l) => ['error', 'fatal'].includes(String(l['level'])))).toEqual([]);
    const text = JSON.stringify(after);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('A'.repeat(100));
    expect(JSON.stringify(line).length).toBeLessThan(400);
  });
});
