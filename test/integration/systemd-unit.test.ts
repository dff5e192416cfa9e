// deploy/systemd/presence.service under Debian's systemd-analyze (no running systemd needed: `verify`
// loads the file, checks every setting and that ExecStart's program exists), and the contract
// between its restart policy and the daemon: what the unit stops on (exit status 2) is what the
// daemon exits with on a bad setting, given the environment the unit builds.
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBuiltCli } from '../helpers/cli.js';
import { requireDebianBinary, runCommand } from '../helpers/debian-binary.js';

const SYSTEMD_ANALYZE = process.env.SYSTEMD_ANALYZE_PATH ?? '/usr/bin/systemd-analyze';
const UNIT = 'deploy/systemd/presence.service';

/** The unit's settings of `[section]`, in order (a key may repeat). */
function settings(unit: string, section: string): Array<[string, string]> {
  const body = unit.split(/^\[/m).find((s) => s.startsWith(`${section}]`)) ?? '';
  return [...body.matchAll(/^(\w+)=(.*)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']);
}

describe('systemd unit (systemd-analyze verify)', () => {
  if (!requireDebianBinary(SYSTEMD_ANALYZE, 'systemd')) return;

  let unit: string;
  let scratch: string;
  beforeAll(async () => {
    unit = await readFile(UNIT, 'utf8');
    scratch = await mkdtemp(join(tmpdir(), 'presence-systemd-'));
  });
  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('verifies without a warning', async () => {
    const result = await runCommand(SYSTEMD_ANALYZE, ['verify', UNIT]);
    expect(result.stderr.split('\n').filter((l) => l.includes('presence'))).toEqual([]);
    expect(result.code).toBe(0);
  });

  it('verify does catch a mistake (a misspelt restart policy, a program that is not there)', async () => {
    const copy = join(scratch, 'presence.service');
    await writeFile(
      copy,
      unit.replace('Restart=on-failure', 'Restart=on-falure').replace('/usr/bin/node', '/nonexistent/node'),
    );
    const result = await runCommand(SYSTEMD_ANALYZE, ['verify', copy]);
    expect(result.stderr).toContain('Failed to parse service restart specifier');
    expect(result.stderr).toContain('/nonexistent/node is not executable');
    expect(result.code).not.toBe(0);
  });

  it('is sandboxed: systemd-analyze security rates its exposure OK (at most 3.5 of 10)', async () => {
    const result = await runCommand(SYSTEMD_ANALYZE, ['security', '--offline=true', UNIT]);
    const level = /Overall exposure level for presence\.service: ([\d.]+)/.exec(result.stdout + result.stderr)?.[1];
    expect(level, result.stdout + result.stderr).toBeDefined();
    expect(Number(level)).toBeLessThanOrEqual(3.5);
  });

  it('restarts on failure, except on exit status 2, and waits longer than the daemon’s graceful stop', () => {
    const service = new Map(settings(unit, 'Service'));
    expect(service.get('Restart')).toBe('on-failure');
    expect(service.get('RestartPreventExitStatus')).toBe('2');
    expect(service.get('ExecStart')).toBe('/usr/bin/node /opt/presence-poller/bin/presence.js run');
    // PRESENCE_SHUTDOWN_MS defaults to 8 s (docs/configuration.md), then the database closes.
    expect(Number(/^(\d+)s$/.exec(service.get('TimeoutStopSec') ?? '')?.[1])).toBeGreaterThan(8);
  });

  it('hands the secrets over as credentials: the environment names files, never a secret', () => {
    const service = settings(unit, 'Service');
    const credentials = service.filter(([k]) => k === 'LoadCredential').map(([, v]) => v.split(':')[0]);
    const fileVars = service
      .filter(([k, v]) => k === 'Environment' && /_FILE=/.test(v))
      .map(([, v]) => /=%d\/(.+)$/.exec(v)?.[1]);
    expect(credentials.sort()).toEqual(['database-url', 'tim-secret-key']);
    expect(fileVars.sort()).toEqual(credentials);
    const environment = service.filter(([k]) => k === 'Environment').map(([, v]) => v);
    expect(environment.filter((v) => /^(DATABASE_URL|TIM_SECRET_KEY|VOLC_SECRET_ACCESS_KEY)=/.test(v))).toEqual([]);
  });

  it('with the environment the unit builds, a bad setting exits 2 (the status it does not restart on)', async () => {
    // What systemd would do: the EnvironmentFile's variables, then Environment= with %d (the
    // credentials directory) and %S (the state directory) expanded; WorkingDirectory is the clone.
    const credentials = join(scratch, 'credentials');
    const state = join(scratch, 'state');
    await mkdir(credentials, { recursive: true });
    await mkdir(join(state, 'presence'), { recursive: true });
    await writeFile(join(credentials, 'tim-secret-key'), 'systemd-unit-key-0123456789abcdef\n');
    const env: Record<string, string> = { TIM_QUERYSTATE_RPS: 'abc', PRESENCE_HTTP: 'off' };
    for (const [k, v] of settings(unit, 'Service')) {
      if (k !== 'Environment') continue;
      const [name = '', value = ''] = v.split(/=(.*)/s);
      env[name] = value.replace('%d', credentials).replace('%S', state);
    }
    // DATABASE_URL_FILE names a credential this test does not make: the embedded database in %S.
    delete env.DATABASE_URL_FILE;
    const result = await runBuiltCli(['run'], env, 30_000);
    expect(result.stdout + result.stderr).toContain('TIM_QUERYSTATE_RPS');
    expect(result.code).toBe(2);
  });
});
