// A rejected key as an operator meets it: the key comes from TIM_SECRET_KEY_FILE, so every hint
// names TIM_SECRET_KEY_FILE (not TIM_SECRET_KEY_<app>, which the operator never set), and
// `check-accounts` stops after the first answer instead of sending every batch (20 calls for 2,000
// users), which would risk Tencent's 70050 lock.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { allOutput, createCliTarget, runCli, type CliTarget, type Env } from '../helpers/cli.js';
import { DATABASE_KIND } from '../helpers/database.js';

const APP = '1400000091';
const USERS = Array.from({ length: 2_000 }, (_, i) => `w-${i}`);

let simulator: Simulator;
let target: CliTarget;
let env: Env;

beforeAll(async () => {
  simulator = await startSimulator({
    secretKey: 'the-right-key-0123456789abcdef',
    world: new PresenceWorld({ seed: 'w' }),
  });
  target = await createCliTarget();
  const dir = mkdtempSync(join(tmpdir(), 'presence-key-'));
  const keyFile = join(dir, 'tim.key');
  writeFileSync(keyFile, 'a-wrong-key-0123456789abcdef\n', { mode: 0o600 });
  env = { ...target.baseEnv(), TIM_SECRET_KEY_FILE: keyFile, TIM_ENDPOINT: simulator.url };
  expect((await runCli(['sets', 'add', 'wk', '--provider', 'tencent', '--app', APP], env)).code).toBe(0);
  expect((await runCli(['users', 'add', 'wk', '-'], env, USERS.join('\n'))).code).toBe(0);
});

afterAll(async () => {
  await simulator?.close();
  await target?.close();
});

describe(`a rejected key from TIM_SECRET_KEY_FILE (${DATABASE_KIND})`, () => {
  it('check-accounts sends one call, says what to fix naming TIM_SECRET_KEY_FILE, and exits non-zero', async () => {
    const before = simulator.calls.length;
    const r = await runCli(['check-accounts', 'wk'], env);
    expect(r.code).not.toBe(0);
    expect(simulator.calls.length - before).toBe(1);
    const text = allOutput(r);
    expect(text).toContain('stopped after the first answer');
    expect(text).toContain('check TIM_SECRET_KEY_FILE');
    expect(text).not.toContain(`TIM_SECRET_KEY_${APP}`);
  });

  it('poll names TIM_SECRET_KEY_FILE too', async () => {
    const r = await runCli(['poll', 'wk'], env);
    expect(r.code).not.toBe(0);
    const text = allOutput(r);
    expect(text).toContain('TIM_SECRET_KEY_FILE');
    expect(text).not.toContain(`TIM_SECRET_KEY_${APP}`);
  });
});
