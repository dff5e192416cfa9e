#!/usr/bin/env node
// The package's bin. The CLI is TypeScript compiled to dist/ by `npm run build`
// (run automatically by `npm ci` through the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('presence: dist/cli.js is missing; run `npm run build` first\n');
  process.exit(1);
}
const { runAsProcess } = await import(cli);
await runAsProcess();
