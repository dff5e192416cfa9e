import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

describe('PRESENCE_PACE_CALLS', () => {
  it('is on unless set to 0 (or false)', () => {
    expect(loadConfig({}).http.paceCalls).toBe(true);
    expect(loadConfig({ PRESENCE_PACE_CALLS: 'false' }).http.paceCalls).toBe(false);
    expect(loadConfig({ PRESENCE_PACE_CALLS: '1' }).http.paceCalls).toBe(true);
    expect(loadConfig({ PRESENCE_PACE_CALLS: 'true' }).http.paceCalls).toBe(true);
    expect(loadConfig({ PRESENCE_PACE_CALLS: '0' }).http.paceCalls).toBe(false);
  });

  it('refuses anything else, naming the variable', () => {
    expect(() => loadConfig({ PRESENCE_PACE_CALLS: 'yes' })).toThrow(ConfigError);
    expect(() => loadConfig({ PRESENCE_PACE_CALLS: 'yes' })).toThrow(/PRESENCE_PACE_CALLS must be 1 or 0, got "yes"/);
  });
});
