// TIM_ENDPOINT and VOLC_ENDPOINT must be https: every Tencent call carries the admin UserSig in
// its query string, every Volcengine call the access key ID and a signature in its headers. Plain
// http stays allowed to loopback only, where the simulator and the tests listen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCliTarget, runCli, type CliTarget, type Env } from '../helpers/cli.js';

let target: CliTarget;

beforeAll(async () => {
  target = await createCliTarget();
  // sets list only reads (an analyst's role may run it), so the schema must exist first.
  const migrated = await runCli(['migrate'], target.baseEnv());
  expect(migrated.code, migrated.err.join('\n')).toBe(0);
});
afterAll(async () => {
  await target?.close();
});

const sets = (env: Env) => runCli(['sets', 'list'], { ...target.baseEnv(), ...env });

describe('provider endpoints', () => {
  it('refuses plain http to a remote host, naming the variable and saying why', async () => {
    const cases: [Env, string, RegExp][] = [
      [{ TIM_ENDPOINT: 'http://console.tim.qq.com' }, 'TIM_ENDPOINT', /UserSig/],
      [{ TIM_ENDPOINT: 'http://10.0.0.5:8080/im' }, 'TIM_ENDPOINT', /UserSig/],
      [{ VOLC_ENDPOINT: 'http://rtc.volcengineapi.com' }, 'VOLC_ENDPOINT', /signature/],
      [{ VOLC_ENDPOINT: 'HTTP://128.0.0.1' }, 'VOLC_ENDPOINT', /signature/],
    ];
    for (const [env, name, why] of cases) {
      const result = await sets(env);
      const err = result.err.join('\n');
      expect(result.code, err).toBe(2);
      expect(err).toContain(`${name} must be https`);
      expect(err).toMatch(why);
      expect(err).toContain(Object.values(env)[0]);
    }
  });

  it('accepts https anywhere and plain http to localhost, 127.0.0.0/8 and [::1]', async () => {
    for (const endpoint of [
      'https://adminapisgp.im.qcloud.com',
      'http://127.0.0.1:9',
      'http://127.8.9.10:8080/prefix',
      'http://localhost:8080',
      'http://[::1]:8080',
    ]) {
      const result = await sets({ TIM_ENDPOINT: endpoint, VOLC_ENDPOINT: endpoint });
      expect(result.code, `${endpoint}: ${result.err.join('\n')}`).toBe(0);
    }
  });
});
