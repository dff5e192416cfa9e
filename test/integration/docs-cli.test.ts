// Every shell block of the README and docs/ says above it whether the tests run it
// (`<!-- cli: run by ... -->`) or why not (`<!-- cli: not run by the docs test (why) -->`), and the
// ones that run do, command by command, as a reader would paste them: against a fresh test database
// (Postgres or an embedded folder) and the simulator standing in for Tencent IM and Volcengine. The
// placeholders a reader replaces are replaced here: the database URL by the test's, `...` keys by
// the simulator's, users.txt by a file of valid IDs, folders by temporary ones.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/simulator/server.js';
import { PresenceWorld } from '../../src/simulator/world.js';
import { createCliTarget, runCli, type Env } from '../helpers/cli.js';

const ROOT = new URL('../../', import.meta.url);
const PAGES = ['README.md', ...readdirSync(new URL('docs/', ROOT)).map((f) => `docs/${f}`)].filter((f) =>
  f.endsWith('.md'),
);
/** Commands a block shows but a test cannot run to its end: the daemon runs until a signal. */
const NOT_RUN = [/^presence run$/];

interface Block {
  page: string;
  line: number;
  marker: string | undefined;
  text: string;
}

function blocks(): Block[] {
  const out: Block[] = [];
  for (const page of PAGES) {
    const lines = readFileSync(new URL(page, ROOT), 'utf8').split('\n');
    lines.forEach((line, i) => {
      const fence = /^( *)```(sh|bash|console)$/.exec(line);
      if (!fence) return;
      const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
      const marker = /^\s*<!-- cli: (.*) -->$/.exec(lines[i - 1] ?? '')?.[1];
      out.push({ page, line: i + 1, marker, text: lines.slice(i + 1, end).join('\n') });
    });
  }
  return out;
}

/** Splits a command line as a shell does for these blocks: words, 'single' and "double" quotes. */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

let files: string;
let simulator: Awaited<ReturnType<typeof startSimulator>>;
const SECRET = 'docs-cli-secret-key';
const VOLC = { accessKeyId: 'AKDOCS', secretAccessKey: 'docs-volc-secret' };
let substitutions: Record<string, string>;

beforeAll(async () => {
  files = await mkdtemp(join(tmpdir(), 'presence-docs-cli-'));
  const users = join(files, 'users.txt');
  const rooms = join(files, 'room-users.txt');
  const key = join(files, 'tim-secret-key');
  await writeFile(users, 'alice\nbob\ncarol\n');
  await writeFile(rooms, '9007199254740993\n42\n');
  await writeFile(key, `${SECRET}\n`);
  substitutions = {
    'users.txt': users,
    'room-users.txt': rooms,
    '/etc/presence/tim-secret-key': key,
    '/data/presence-archive': join(files, 'archive'),
  };
  simulator = await startSimulator({
    secretKey: SECRET,
    world: new PresenceWorld({ seed: 'docs-cli' }),
    logAnswers: false,
    volcengine: { accounts: [VOLC] },
  });
});

afterAll(async () => {
  await simulator?.close();
  if (files) await rm(files, { recursive: true, force: true });
});

/** The environment a block's `export` or `VAR=value` sets, with the reader's placeholders replaced. */
function assign(env: Env, name: string, value: string): void {
  if (name === 'DATABASE_URL' || name === 'DATABASE_URL_FILE') return; // the test's database instead
  if (name === 'TIM_SECRET_KEY' || name.startsWith('TIM_SECRET_KEY_')) value = name.endsWith('_FILE') ? value : SECRET;
  if (name === 'VOLC_ACCESS_KEY_ID') value = VOLC.accessKeyId;
  if (name === 'VOLC_SECRET_ACCESS_KEY') value = VOLC.secretAccessKey;
  env[name] = substitutions[value] ?? value;
}

describe('the shell blocks of the README and docs/', () => {
  it('each says whether the tests run it, and why not', () => {
    const all = blocks();
    expect(all.length).toBeGreaterThan(10);
    const unmarked = all.filter((b) => b.marker === undefined).map((b) => `${b.page}:${b.line}`);
    expect(unmarked).toEqual([]);
    for (const b of all.filter((b) => b.marker!.startsWith('not run')))
      expect(b.marker, `${b.page}:${b.line}`).toMatch(/^not run by the docs test \(.+\)$/);
  });

  // A page's blocks run in order on one database, as a reader follows the page (a later block
  // changes the set an earlier one made).
  const runnable = blocks().filter((b) => b.marker?.startsWith('run by'));
  const pages = [...new Set(runnable.map((b) => b.page))];
  it.each(pages)(
    'the blocks of %s run, every command exiting 0',
    async (page) => {
      const target = await createCliTarget();
      try {
        for (const block of runnable.filter((b) => b.page === page)) await runBlock(block, target.baseEnv());
      } finally {
        await target.close();
      }
    },
    300_000,
  );
});

/** Runs the commands of one block, in order, each expected to exit 0. */
async function runBlock(block: Block, databaseEnv: Env): Promise<void> {
  const env: Env = {
    ...databaseEnv,
    TIM_ENDPOINT: simulator.url,
    VOLC_ENDPOINT: simulator.url,
    PRESENCE_HTTP: 'off',
  };
  const lines = block.text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.replace(/(^|\s+)#\s.*$/, '').trim())
    .filter(Boolean);
  let ran = 0;
  for (const line of lines) {
    let argv = words(line);
    if (argv[0] === 'export') {
      for (const a of argv.slice(1)) assign(env, a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1));
      continue;
    }
    const local: Env = { ...env };
    while (argv[0] && /^[A-Z_][A-Z0-9_]*=/.test(argv[0])) {
      const [name, ...value] = argv[0].split('=');
      assign(local, name!, value.join('='));
      argv = argv.slice(1);
    }
    if (argv[0] === 'npx') argv = argv.slice(1);
    expect(argv[0], `${block.page}: ${line}`).toBe('presence');
    const command = argv.join(' ');
    if (NOT_RUN.some((r) => r.test(command))) continue;
    const result = await runCli(
      argv.slice(1).map((a) => substitutions[a] ?? a),
      local,
    );
    expect(result.code, `${block.page}: ${line}\n${[...result.out, ...result.err].join('\n')}`).toBe(0);
    ran += 1;
  }
  expect(ran, `commands run in ${block.page}:${block.line}`).toBeGreaterThan(0);
}
