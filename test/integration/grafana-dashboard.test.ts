// deploy/grafana/presence-dashboard.json as Grafana imports it (the classic dashboard JSON model):
// its data sources are the dashboard's two data source variables, every variable a query uses is
// defined, panels do not overlap, and it has the panels issue 16 asks for. The queries themselves
// run in prometheus-scrape.test.ts (PromQL) and grafana-dashboard-sql.test.ts (SQL).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface Ref {
  type?: string;
  uid?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: Ref;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Array<{ datasource?: Ref; expr?: string; rawSql?: string; refId: string }>;
}
interface Variable {
  name: string;
  type: string;
  query?: unknown;
  datasource?: Ref;
}
const dashboard = JSON.parse(
  readFileSync(new URL('../../deploy/grafana/presence-dashboard.json', import.meta.url), 'utf8'),
) as { uid: string; title: string; schemaVersion: number; panels: Panel[]; templating: { list: Variable[] } };
const panels = dashboard.panels.filter((p) => p.type !== 'row');
const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
const SOURCES: Record<string, string> = { '${datasource}': 'prometheus', '${pg}': 'grafana-postgresql-datasource' };

describe('Grafana dashboard model', () => {
  it('chooses its Prometheus and Postgres data sources through two data source variables', () => {
    expect(variables.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(variables.get('pg')).toMatchObject({ type: 'datasource', query: 'grafana-postgresql-datasource' });
    for (const panel of panels) {
      const uid = panel.datasource?.uid ?? '';
      expect(SOURCES[uid], `${panel.title}: data source ${uid}`).toBe(panel.datasource?.type);
      for (const t of panel.targets ?? []) expect(t.datasource, `${panel.title} ${t.refId}`).toEqual(panel.datasource);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      expect(SOURCES[v.datasource?.uid ?? ''], v.name).toBe(v.datasource?.type);
    }
  });

  it('defines every variable its queries use, and uses every one it defines', () => {
    const texts = [
      ...panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? t.rawSql ?? '')),
      ...dashboard.templating.list.map((v) => JSON.stringify(v.query ?? '')),
    ];
    const used = new Set(texts.flatMap((t) => [...t.matchAll(/\$(?!__)(\w+)/g)].map((m) => m[1] ?? '')));
    for (const name of used) expect(variables.has(name), `$${name} is not defined`).toBe(true);
    const referenced = new Set([
      ...used,
      ...panels.map((p) => (p.datasource?.uid ?? '').replace(/^\$\{(.*)\}$/, '$1')),
    ]);
    expect([...variables.keys()].filter((n) => !referenced.has(n))).toEqual([]);
  });

  it('lays panels out on the 24-column grid without overlaps, with unique ids', () => {
    const all = dashboard.panels;
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    for (const a of all) {
      expect(a.gridPos.x + a.gridPos.w, a.title).toBeLessThanOrEqual(24);
      for (const b of all) {
        if (a === b) continue;
        const overlap =
          a.gridPos.x < b.gridPos.x + b.gridPos.w &&
          b.gridPos.x < a.gridPos.x + a.gridPos.w &&
          a.gridPos.y < b.gridPos.y + b.gridPos.h &&
          b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `${a.title} overlaps ${b.title}`).toBe(false);
      }
    }
  });

  it('has the panels an operator needs, reading the agreed metrics', () => {
    const reads = (metric: string) =>
      panels.filter((p) => (p.targets ?? []).some((t) => (t.expr ?? '').includes(metric))).map((p) => p.title);
    expect(reads('presence_provider_calls_total')).toHaveLength(1); // calls per bucket
    expect(reads('presence_rate_limit_refusals_total')).toHaveLength(1); // refusals per bucket
    expect(reads('presence_rate_budget_demand_ratio')).toHaveLength(1); // budget use
    const cycle = reads('presence_cycle_duration_seconds');
    expect(cycle).toHaveLength(1);
    expect(reads('presence_set_schedule_interval_seconds')).toEqual(cycle); // duration against the interval
    const lag = reads('presence_last_successful_cycle_timestamp_seconds');
    expect(lag).toHaveLength(1);
    expect(reads('presence_set_gap_threshold_seconds')).toEqual(lag);
    expect(reads('presence_transitions_total')).toHaveLength(1);
    expect(panels.filter((p) => p.datasource?.type === 'grafana-postgresql-datasource')).toHaveLength(1);
    expect(dashboard.uid).toBe('presence-poller');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
  });
});
