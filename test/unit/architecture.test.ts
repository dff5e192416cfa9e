// The architecture of docs/architecture.md, checked: a lower layer importing a higher one fails
// lint (here: the rule catches one), SQL stays in store/, analytics/, db/ and migrations/, and a
// file over 300 lines says at its top why it is one piece.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

const sources = filesUnder(join(root, 'src')).map((path) => ({
  path: relative(root, path),
  text: readFileSync(path, 'utf8'),
}));

describe('the layers', () => {
  it('lint refuses a lower layer that imports a higher one', async () => {
    // The project's own layer rules, with the TypeScript parser but without type information (the
    // probes are not files of the project).
    const configUrl = new URL('../../eslint.config.js', import.meta.url).href;
    const { default: projectConfig } = (await import(configUrl)) as { default: Linter.Config[] };
    const layerRules = projectConfig.filter((c) => c.rules && 'no-restricted-imports' in c.rules);
    expect(layerRules.length).toBeGreaterThan(10);
    const eslint = new ESLint({
      cwd: root,
      overrideConfigFile: true,
      overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...layerRules],
    });
    const [store] = await eslint.lintText("export { Timekeeper } from '../poll/timekeeper.js';\n", {
      filePath: join(root, 'src/store/layer-probe.ts'),
    });
    const [base] = await eslint.lintText("export type { WatchSet } from './store/watch-sets.js';\n", {
      filePath: join(root, 'src/layer-probe.ts'),
    });
    const [daemon] = await eslint.lintText("export { startDaemon } from '../daemon.js';\n", {
      filePath: join(root, 'src/poll/layer-probe.ts'),
    });
    for (const result of [store, base, daemon])
      expect(result?.messages.map((m) => m.ruleId)).toContain('no-restricted-imports');
    const [allowed] = await eslint.lintText("export { recordObservations } from '../store/record-observations.js';\n", {
      filePath: join(root, 'src/poll/layer-probe.ts'),
    });
    expect(allowed?.messages.filter((m) => m.ruleId === 'no-restricted-imports')).toEqual([]);
  }, 60_000);

  it('keeps SQL in store/, analytics/, db/ (the migrator and the dialects) and migrations/', () => {
    const sqlLike = /\bsql`|\.selectFrom\(|\.insertInto\(|\.updateTable\(|\.deleteFrom\(|\.query\(\s*['`]/;
    const allowed = /^src\/(store|analytics|db)\//;
    const outside = sources.filter((f) => !allowed.test(f.path) && sqlLike.test(f.text)).map((f) => f.path);
    expect(outside).toEqual([]);
  });

  it('has no file over 300 lines that does not say at its top why it is one piece', () => {
    const long = sources.filter((f) => f.text.split('\n').length > 300);
    const unexplained = long.filter((f) => !/one piece|one file/i.test(f.text.split('\n').slice(0, 12).join('\n')));
    expect(unexplained.map((f) => `${f.path} (${f.text.split('\n').length} lines)`)).toEqual([]);
  });
});
