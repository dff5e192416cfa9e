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
    expect(
      after.some((s) => s.name === 'presence_last_successful_cycle_timestamp_seconds' && s.labels.set === 'vip'),
    ).toBe(false);
    expect(sumOf(after, 'presence_cycles_total', { set: 'vip' })).toBe(3);
  });

  it('labels Tencent buckets as they are', () => {
    expect(bucketLabel('tencent:1400000001:state')).toBe('tencent:1400000001:state');
  });

  it('exports every series an alert reads from the first reload: counters at 0, last success from poll_cycle, ceilings, config errors', async () => {
    const metrics = createMetrics();
    const events = new EventStream();
    let available = false;
    const feed = subscribeMetrics(events, metrics, {
      lastSuccessFromDatabase: (sets) =>
        available
          ? Promise.resolve(new Map(sets.filter((s) => s === 'old').map((s) => [s, new Date(1_700_000_000_000)])))
          : undefined,
      bucketsOf: (provider, appId) =>
        provider === 'tencent'
          ? [
              { bucket: `tencent:${appId}:state`, ceiling: 100 },
              { bucket: `tencent:${appId}:account_check`, ceiling: 20 },
            ]
          : [{ bucket: 'volcengine:AKLTsecretishkeyid1234', ceiling: 50 }],
    });
    events.emit('sets.loaded', {
      sets: [
        { name: 'old', provider: 'tencent', appId: '1', gapSeconds: 30, intervalSeconds: 10 },
        { name: 'new', provider: 'volcengine', appId: '7', gapSeconds: 90, intervalSeconds: 30 },
        {
          name: 'nokey',
          provider: 'tencent',
          appId: '2',
          gapSeconds: 30,
          intervalSeconds: 10,
          problem: { setting: 'TIM_SECRET_KEY_2', message: 'set TIM_SECRET_KEY_2' },
        },
      ],
    });
    // Before the database is handed over, no last success is made up.
    let samples = parsePrometheusText(await metrics.registry.metrics());
    expect(samples.some((s) => s.name === 'presence_last_successful_cycle_timestamp_seconds')).toBe(false);
    available = true;
    await feed.seed();
    samples = parsePrometheusText(await metrics.registry.metrics());
    const one = (name: string, labels: Record<string, string>) => {
      const found = samples.filter(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      );
      expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
      return found[0]!.value;
    };
    expect(one('presence_last_successful_cycle_timestamp_seconds', { set: 'old' })).toBe(1_700_000_000);
    expect(one('presence_last_successful_cycle_timestamp_seconds', { set: 'new' })).toBe(0);
    for (const status of ['ok', 'partial', 'failed', 'interrupted'])
      expect(one('presence_cycles_total', { set: 'new', status })).toBe(0);
    expect(one('presence_cycles_skipped_total', { set: 'new' })).toBe(0);
    expect(one('presence_users_failed_total', { set: 'new' })).toBe(0);
    for (const operation of ['batch', 'cycle', 'reload_sets', 'partitions'])
      expect(one('presence_database_errors_total', { operation })).toBe(0);
    expect(one('presence_rate_limit_refusals_total', { bucket: 'tencent:1:state' })).toBe(0);
    expect(one('presence_rate_limit_refusals_total', { bucket: 'volcengine:…1234' })).toBe(0);
    expect(one('presence_rate_ceiling_calls_per_second', { bucket: 'tencent:1:account_check' })).toBe(20);
    expect(one('presence_rate_ceiling_calls_per_second', { bucket: 'volcengine:…1234' })).toBe(50);
    expect(one('presence_set_gap_threshold_seconds', { set: 'new' })).toBe(90);
    expect(one('presence_set_schedule_interval_seconds', { set: 'old' })).toBe(10);
    expect(one('presence_config_error', { provider: 'tencent', app: '2', code: 'ERR_CONFIG' })).toBe(1);
    expect(one('presence_build_info', {})).toBe(1);
    expect(samples.find((s) => s.name === 'presence_build_info')!.labels.version).toMatch(/^\d+\.\d+\.\d+/);
    // A rejected key: 1 at once; 0 once a cycle of the app observes again.
    const fatal = {
      code: 'ERR_PROVIDER_FATAL',
      setting: 'TIM_SECRET_KEY',
      message: 'check TIM_SECRET_KEY',
      provider: 'tencent' as const,
      app: '1',
    };
    events.emit('cycle.finished', summary({ set: 'old', status: 'failed', observed: 0, failed: 10, fatal }));
    samples = parsePrometheusText(await metrics.registry.metrics());
    expect(one('presence_config_error', { provider: 'tencent', app: '1', code: 'ERR_PROVIDER_FATAL' })).toBe(1);
    expect(one('presence_cycles_total', { set: 'old', status: 'failed' })).toBe(1);
    events.emit('cycle.finished', summary({ set: 'old' }));
    samples = parsePrometheusText(await metrics.registry.metrics());
    expect(one('presence_config_error', { provider: 'tencent', app: '1', code: 'ERR_PROVIDER_FATAL' })).toBe(0);
    expect(one('presence_last_successful_cycle_timestamp_seconds', { set: 'old' })).toBe(1_700_000_001.5);
  });
});
