import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'presence-callback-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('callback configuration', () => {
  it('is off by default, with the documented path and body limit', () => {
    const { callbacks } = loadConfig({});
    expect(callbacks.listen).toBeUndefined();
    expect(callbacks.path).toBe('/tim/callback');
    expect(callbacks.maxBodyBytes).toBe(65_536);
  });

  it('reads host:port, [v6]:port or a bare port, which is on loopback (and flagged for the start-up warning)', () => {
    const token = { TIM_CALLBACK_TOKEN: 't' };
    expect(loadConfig({ ...token, PRESENCE_CALLBACK_LISTEN: '0.0.0.0:8080' }).callbacks.listen).toEqual({
      host: '0.0.0.0',
      port: 8080,
    });
    expect(loadConfig({ ...token, PRESENCE_CALLBACK_LISTEN: '[::1]:9000' }).callbacks.listen).toEqual({
      host: '::1',
      port: 9000,
    });
    expect(loadConfig({ ...token, PRESENCE_CALLBACK_LISTEN: '8081' }).callbacks).toMatchObject({
      listen: { host: '127.0.0.1', port: 8081 },
      barePort: true,
    });
    expect(loadConfig({ ...token, PRESENCE_CALLBACK_LISTEN: '0.0.0.0:8081' }).callbacks.barePort).toBe(false);
    expect(loadConfig({}).callbacks.barePort).toBe(false);
    expect(() => loadConfig({ ...token, PRESENCE_CALLBACK_LISTEN: 'localhost' })).toThrow(
      /PRESENCE_CALLBACK_LISTEN must be host:port/,
    );
    expect(() => loadConfig({ ...token, PRESENCE_CALLBACK_LISTEN: 'h:70000' })).toThrow(/PRESENCE_CALLBACK_LISTEN/);
    expect(() => loadConfig({ PRESENCE_CALLBACK_PATH: 'callback' })).toThrow(
      /PRESENCE_CALLBACK_PATH must be a URL path/,
    );
  });

  it('refuses to start the listener without a token, naming the variable', () => {
    expect(() => loadConfig({ PRESENCE_CALLBACK_LISTEN: '127.0.0.1:0' })).toThrow(
      /set TIM_CALLBACK_TOKEN \(or TIM_CALLBACK_TOKEN_FILE\)/,
    );
  });

  it('reads the token from the environment or a file, and never shows it', async () => {
    await writeFile(join(dir, 'token'), 'token-from-file\n');
    const fromFile = loadConfig({
      PRESENCE_CALLBACK_LISTEN: '127.0.0.1:0',
      TIM_CALLBACK_TOKEN_FILE: join(dir, 'token'),
    });
    expect(fromFile.callbacks.token()).toBe('token-from-file');
    const direct = loadConfig({ PRESENCE_CALLBACK_LISTEN: '127.0.0.1:0', TIM_CALLBACK_TOKEN: 'sekrit-token' });
    expect(direct.callbacks.token()).toBe('sekrit-token');
    expect(inspect(direct, { depth: 10 })).not.toContain('sekrit-token');
    expect(JSON.stringify(direct)).not.toContain('sekrit-token');
  });
});
