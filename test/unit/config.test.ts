import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'presence-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toMatch(/\/data$/);
    expect(config.tencent).toMatchObject({
      admin: 'administrator',
      endpoint: 'https://console.tim.qq.com',
      stateApi: 'querystate',
      querystateRps: 100,
      accountCheckRps: 100,
    });
    expect(config.volcengine).toMatchObject({
      endpoint: 'https://rtc.volcengineapi.com',
      region: 'cn-north-1',
      rps: 100,
    });
  });

  it('names the variable in every error', () => {
    expect(() => loadConfig({ TIM_QUERYSTATE_RPS: 'fast' })).toThrow(
      /TIM_QUERYSTATE_RPS must be a positive integer, got "fast"/,
    );
    expect(() => loadConfig({ VOLC_RPS: '0' })).toThrow(/VOLC_RPS/);
    expect(() => loadConfig({ TIM_ENDPOINT: 'console.tim.qq.com' })).toThrow(/TIM_ENDPOINT must be a URL/);
    expect(() => loadConfig({ TIM_STATE_API: 'state' })).toThrow(
      /TIM_STATE_API must be querystate or query_online_status/,
    );
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    expect(() => loadConfig({ TIM_SECRET_KEY_FILE: join(dir, 'missing') })).toThrow(
      /TIM_SECRET_KEY_FILE names .* which cannot be read/,
    );
  });

  it('finds a Tencent key per app, else the shared one, and says what to set when there is none', async () => {
    await writeFile(join(dir, 'key'), 'from-file\n');
    const config = loadConfig({
      TIM_SECRET_KEY: 'shared',
      TIM_SECRET_KEY_1400000002: 'own',
      TIM_SECRET_KEY_1400000003_FILE: join(dir, 'key'),
    });
    expect(config.tencent.secretKeyFor('1400000001')).toBe('shared');
    expect(config.tencent.secretKeyFor('1400000002')).toBe('own');
    expect(config.tencent.secretKeyFor('1400000003')).toBe('from-file');
    expect(() => loadConfig({}).tencent.secretKeyFor('1400000001')).toThrow(
      'Set TIM_SECRET_KEY or TIM_SECRET_KEY_1400000001',
    );
  });

  it('refuses a secret set both as a variable and as a file, naming both, for every secret', async () => {
    await writeFile(join(dir, 'secret'), 'from-file\n');
    const file = join(dir, 'secret');
    for (const name of [
      'TIM_SECRET_KEY',
      'TIM_SECRET_KEY_1400000002',
      'VOLC_ACCESS_KEY_ID',
      'VOLC_SECRET_ACCESS_KEY_7',
      'TIM_CALLBACK_TOKEN',
      'DATABASE_URL',
    ]) {
      const env = { [name]: name === 'DATABASE_URL' ? 'postgres://u@h/db' : 'plain', [`${name}_FILE`]: file };
      let caught: unknown;
      try {
        loadConfig(env);
      } catch (err) {
        caught = err;
      }
      expect(caught, name).toMatchObject({ code: 'ERR_CONFIG', setting: name });
      expect((caught as Error).message, name).toContain(`${name} and ${name}_FILE are both set`);
    }
  });

  it('reads DATABASE_URL from DATABASE_URL_FILE, and says which variable is wrong', async () => {
    await writeFile(join(dir, 'url'), 'postgres://presence:s3cret@db.internal/presence\n');
    const config = loadConfig({ DATABASE_URL_FILE: join(dir, 'url') });
    expect(config.databaseUrl).toBe('postgres://presence:s3cret@db.internal/presence');
    // Its password is scrubbed from the log like that of DATABASE_URL.
    expect(config.secretsForRedaction()).toContain('s3cret');
    await writeFile(join(dir, 'bad-url'), 'mysql://x\n');
    expect(() => loadConfig({ DATABASE_URL_FILE: join(dir, 'bad-url') })).toThrow(
      /DATABASE_URL_FILE must name a file holding a postgres:\/\//,
    );
  });

  it('takes a Volcengine pair per app only whole, else the shared pair', () => {
    const config = loadConfig({
      VOLC_ACCESS_KEY_ID: 'AK',
      VOLC_SECRET_ACCESS_KEY: 'SK',
      VOLC_ACCESS_KEY_ID_7: 'AK7',
      VOLC_SECRET_ACCESS_KEY_7: 'SK7',
      VOLC_ACCESS_KEY_ID_8: 'AK8',
    });
    expect(config.volcengine.credentialsFor('7')).toEqual({ accessKeyId: 'AK7', secretAccessKey: 'SK7' });
    expect(config.volcengine.credentialsFor('8')).toEqual({ accessKeyId: 'AK', secretAccessKey: 'SK' });
    expect(() => loadConfig({ VOLC_ACCESS_KEY_ID: 'AK' }).volcengine.credentialsFor('9')).toThrow(
      /Set VOLC_ACCESS_KEY_ID and VOLC_SECRET_ACCESS_KEY \(or VOLC_ACCESS_KEY_ID_9 and VOLC_SECRET_ACCESS_KEY_9\)/,
    );
  });

  it('keeps secrets out of the config object, so logging it cannot leak them', () => {
    const config = loadConfig({
      TIM_SECRET_KEY: 'tim-secret-1234',
      VOLC_ACCESS_KEY_ID: 'AK',
      VOLC_SECRET_ACCESS_KEY: 'volc-secret-5678',
    });
    const shown = JSON.stringify(config) + inspect(config, { depth: 10 });
    expect(shown).not.toContain('tim-secret-1234');
    expect(shown).not.toContain('volc-secret-5678');
  });
});
