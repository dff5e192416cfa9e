import { describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/errors.js';
import { PollMetrics } from '../../src/metrics/poll-metrics.js';
import { bucketLabel, createMetrics } from '../../src/metrics/registry.js';
import { observeCalls } from '../../src/poll/observed-client.js';
import type { CallReport } from '../../src/poll/observer.js';
import type { CycleSummary } from '../../src/poll/run-cycle.js';
import { parsePrometheusText, sumOf } from '../helpers/prometheus-text.js';

function summary(over: Partial<CycleSummary>): CycleSummary {
  return {
    id: '1',
    set: 'vip',
    status: 'ok',
    error: null,
    startedAt: new Date(1_700_000_000_000),
    durationMs: 1_500,
    pairs: {},
    failures: {},
    users: 10,
    observed: 10,
    failed: 0,
    calls: 1,
    transitions: 0,
    accountErrors: 0,
    notImported: 0,
    refusals: 0,
    recorded: true,
    finishedAt: new Date(1_700_000_001_500),
    ...over,
  };
}

describe('PollMetrics', () => {
  it('turns cycles, calls, refusals and limiter rates into metrics', async () => {
    const metrics = createMetrics();
    const observer = new PollMetrics(metrics);
    observer.cycleFinished(summary({ pairs: { 'null→Online': 4, 'Online→Offline': 2 }, transitions: 6 }));
    observer.cycleFinished(
      summary({
        status: 'partial',
        observed: 7,
        failed: 3,
        failures: { ERR_DATABASE: 1 },
        startedAt: new Date(1_700_000_010_000),
      }),
    );
    observer.cycleFinished(
      summary({ status: 'failed', observed: 0, failed: 10, startedAt: new Date(1_700_000_020_000) }),
    );
    observer.callFinished({ provider: 'tencent', app: '1', api: 'querystate', outcome: 'ok', seconds: 0.04 });
    observer.refusal('volcengine:AKLTsecretishkeyid1234');
    observer.limiterRate('volcengine:AKLTsecretishkeyid1234', 50);
    observer.tickSkipped('vip');
    const text = await metrics.registry.metrics();
    const samples = parsePrometheusText(text);
    expect(sumOf(samples, 'presence_cycles_total', { set: 'vip' })).toBe(3);
    expect(sumOf(samples, 'presence_transitions_total', { from: 'none', to: 'Online' })).toBe(4);
    expect(sumOf(samples, 'presence_transitions_total', { from: 'Online', to: 'Offline' })).toBe(2);
    expect(sumOf(samples, 'presence_users_failed_total', { set: 'vip' })).toBe(13);
    expect(sumOf(samples, 'presence_database_errors_total', { operation: 'batch' })).toBe(1);
    // The last success is the partial cycle's end (it observed users); the failed one does not count.
    expect(sumOf(samples, 'presence_last_successful_cycle_timestamp_seconds', { set: 'vip' })).toBe(1_700_000_011.5);
    expect(sumOf(samples, 'presence_rate_limit_refusals_total', { bucket: 'volcengine:…1234' })).toBe(1);
    expect(sumOf(samples, 'presence_limiter_rate', { bucket: 'volcengine:…1234' })).toBe(50);
    expect(sumOf(samples, 'presence_cycles_skipped_total', { set: 'vip' })).toBe(1);
    expect(text).not.toContain('AKLTsecretishkeyid');
    // A set no longer enabled loses its gauges.
    observer.setsLoaded([{ name: 'other' }]);
    const after = parsePrometheusText(await metrics.registry.metrics());
    expect(after.some((s) => s.name === 'presence_last_successful_cycle_timestamp_seconds')).toBe(false);
    expect(sumOf(after, 'presence_cycles_total', { set: 'vip' })).toBe(3);
  });

  it('labels Tencent buckets as they are', () => {
    expect(bucketLabel('tencent:1400000001:state')).toBe('tencent:1400000001:state');
  });
});

describe('observeCalls', () => {
  it('times each call of the named methods and reports ok or the error code; other members pass through', async () => {
    const reports: CallReport[] = [];
    const client = {
      name: 'fake',
      accountCheck(ids: string[]) {
        return ids.length > 0
          ? Promise.resolve(ids.length)
          : Promise.reject(new ProviderError('ERR_PROVIDER_RATE_LIMITED', 'slow down', { provider: 'tencent' }));
      },
      close: () => Promise.resolve('closed'),
    };
    const observed = observeCalls(
      client,
      { provider: 'tencent', app: '7' },
      { accountCheck: 'account_check' },
      { callFinished: (r) => reports.push(r) },
    );
    expect(await observed.accountCheck(['a', 'b'])).toBe(2);
    await expect(observed.accountCheck([])).rejects.toThrow('slow down');
    expect(await observed.close()).toBe('closed');
    expect(observed.name).toBe('fake');
    expect(reports.map((r) => [r.api, r.outcome])).toEqual([
      ['account_check', 'ok'],
      ['account_check', 'ERR_PROVIDER_RATE_LIMITED'],
    ]);
    expect(reports.every((r) => r.provider === 'tencent' && r.app === '7' && r.seconds >= 0)).toBe(true);
    // Without an observer the client is returned as it is.
    expect(observeCalls(client, { provider: 'tencent', app: '7' }, { accountCheck: 'account_check' }, undefined)).toBe(
      client,
    );
  });
});
