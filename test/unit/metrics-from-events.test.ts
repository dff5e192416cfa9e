import { describe, expect, it } from 'vitest';
import { EventStream, type CycleSummary } from '../../src/events.js';
import { subscribeMetrics } from '../../src/operations/metrics-from-events.js';
import { bucketLabel, createMetrics } from '../../src/operations/metrics.js';
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

describe('metrics from the event stream', () => {
  it('turns cycles, calls, refusals and limiter rates into metrics', async () => {
    const metrics = createMetrics();
    const events = new EventStream();
    subscribeMetrics(events, metrics);
    events.emit('cycle.finished', summary({ pairs: { 'null→Online': 4, 'Online→Offline': 2 }, transitions: 6 }));
    events.emit(
      'cycle.finished',
      summary({
        status: 'partial',
        observed: 7,
        failed: 3,
        failures: { ERR_DATABASE: 1 },
        startedAt: new Date(1_700_000_010_000),
        finishedAt: new Date(1_700_000_011_500),
      }),
    );
    events.emit(
      'cycle.finished',
      summary({
        status: 'failed',
        observed: 0,
        failed: 10,
        startedAt: new Date(1_700_000_020_000),
        finishedAt: new Date(1_700_000_021_500),
      }),
    );
    events.emit('call.finished', { provider: 'tencent', app: '1', api: 'querystate', outcome: 'ok', seconds: 0.04 });
    events.emit('limiter.refusal', { bucket: 'volcengine:AKLTsecretishkeyid1234' });
    events.emit('limiter.rate', { bucket: 'volcengine:AKLTsecretishkeyid1234', rate: 50 });
    events.emit('tick.skipped', { set: 'vip' });
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
    events.emit('sets.loaded', { sets: [{ name: 'other', provider: 'tencent', appId: '1', gapSeconds: 30 }] });
    const after = parsePrometheusText(await metrics.registry.metrics());
    expect(after.some((s) => s.name === 'presence_last_successful_cycle_timestamp_seconds')).toBe(false);
    expect(sumOf(after, 'presence_cycles_total', { set: 'vip' })).toBe(3);
  });

  it('labels Tencent buckets as they are', () => {
    expect(bucketLabel('tencent:1400000001:state')).toBe('tencent:1400000001:state');
  });
});
