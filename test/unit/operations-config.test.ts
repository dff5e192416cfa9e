import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

describe('PRESENCE_HTTP', () => {
  it('defaults to 127.0.0.1:9464 and takes host:port, [v6]:port, a bare port or off', () => {
    expect(loadConfig({}).operationsHttp).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(loadConfig({ PRESENCE_HTTP: '0.0.0.0:9100' }).operationsHttp).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(loadConfig({ PRESENCE_HTTP: '[::1]:9100' }).operationsHttp).toEqual({ host: '::1', port: 9100 });
    expect(loadConfig({ PRESENCE_HTTP: '9465' }).operationsHttp).toEqual({ host: '127.0.0.1', port: 9465 });
    expect(loadConfig({ PRESENCE_HTTP: 'off' }).operationsHttp).toBeNull();
    expect(loadConfig({ PRESENCE_HTTP: 'OFF' }).operationsHttp).toBeNull();
  });

  it('refuses anything else, naming the variable', () => {
    for (const bad of ['localhost', 'http://127.0.0.1:9464', '127.0.0.1:99999', 'a b:1', ':']) {
      let error: unknown;
      try {
        loadConfig({ PRESENCE_HTTP: bad });
      } catch (err) {
        error = err;
      }
      expect(error, bad).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toContain('PRESENCE_HTTP');
    }
  });
});
