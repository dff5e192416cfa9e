// docs/configuration.md is the reference of every variable: each one the config module reads has a
// row, and each default of DEFAULTS is the one its row says.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config.js';

const source = readFileSync(new URL('../../src/config.ts', import.meta.url), 'utf8');
const page = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
const rows = page.split('\n').filter((l) => l.startsWith('| `'));

/** The table row naming `variable` in its first cell. */
function rowOf(variable: string): string | undefined {
  return rows.find((r) => (r.split('|')[1] ?? '').includes(`\`${variable}\``));
}

describe('docs/configuration.md', () => {
  it('has a row for every variable the config module reads', () => {
    const read = new Set<string>();
    for (const m of source.matchAll(/env\.([A-Z][A-Z0-9_]+)/g)) read.add(m[1]!);
    for (const m of source.matchAll(/\(env, '([A-Z][A-Z0-9_]+)'/g)) read.add(m[1]!);
    expect(read.size).toBeGreaterThan(15);
    const missing = [...read].filter((v) => !rowOf(v) && !rowOf(v.replace(/_FILE$/, '')));
    expect(missing).toEqual([]);
  });

  it('gives each default of DEFAULTS in its variable’s row', () => {
    for (const [key, value] of Object.entries(DEFAULTS)) {
      // The doc comment of each entry starts with its variable: /** `PRESENCE_RELOAD_MS`: ... */
      const variable = new RegExp(`/\\*\\* \`([A-Z][A-Z0-9_]+)\`[^*]*\\*/\\n\\s+${key}:`).exec(source)?.[1];
      expect(variable, `DEFAULTS.${key} names its variable`).toBeDefined();
      const row = rowOf(variable!);
      expect(row, variable).toBeDefined();
      const defaultCell = row!.split('|').at(-2) ?? '';
      const written = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
      expect(defaultCell, `${variable}'s default`).toContain(written);
    }
  });
});
