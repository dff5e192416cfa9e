// Lint runs as part of `npm test`; typed linting catches floating promises, which in a daemon
// are lost errors and unfinished work at shutdown. The layer rule below makes the architecture of
// docs/architecture.md a check: a lower layer importing a higher one fails `npm test`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers of src/, lowest first. Each folder may import the base files (src/*.ts: errors,
 * model, clock, events, schedules, config, logger) and the folders listed; any other folder of src/
 * is off limits, and the base files import no folder at all. SQL lives in store/, analytics/ and migrations/ only; CLI wording in commands/.
 */
const FOLDERS = {
  db: [],
  providers: [],
  output: [],
  listeners: [],
  input: ['providers', 'output'],
  store: ['db', 'output'],
  analytics: ['db', 'store', 'output', 'input'],
  poll: ['db', 'providers', 'store'],
  callbacks: ['db', 'store', 'input', 'listeners'],
  maintenance: ['db', 'store'],
  archive: ['store'],
  operations: ['db', 'store', 'listeners'],
  simulator: ['providers', 'callbacks', 'input'],
  commands: null, // everything below it, and the composition root
};

function forbidden(allowed, { daemon = false } = {}) {
  const patterns = Object.keys(FOLDERS)
    .filter((folder) => !allowed.includes(folder))
    .map((folder) => ({
      group: [`**/${folder}/*`],
      message: `this layer may not import ${folder}/ (see docs/architecture.md)`,
    }));
  if (!daemon) patterns.push({ group: ['**/daemon.js'], message: 'only commands/ may import the composition root' });
  patterns.push({ group: ['**/cli.js'], message: 'nothing imports the CLI entry point' });
  return { 'no-restricted-imports': ['error', { patterns }] };
}

const layerRules = [
  { files: ['src/*.ts'], ignores: ['src/daemon.ts', 'src/cli.ts'], rules: forbidden([]) },
  ...Object.entries(FOLDERS)
    .filter(([, may]) => may !== null)
    .map(([folder, may]) => ({ files: [`src/${folder}/**/*.ts`], rules: forbidden([folder, ...may]) })),
  {
    files: ['src/daemon.ts'],
    rules: forbidden(
      Object.keys(FOLDERS).filter((f) => f !== 'commands' && f !== 'simulator' && f !== 'input' && f !== 'output'),
    ),
  },
  { files: ['src/commands/**/*.ts'], rules: forbidden(Object.keys(FOLDERS), { daemon: true }) },
  { files: ['src/cli.ts'], rules: forbidden(['commands', 'simulator']) },
];

export default tseslint.config(
  { ignores: ['dist/', 'bench/dist/', 'node_modules/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  ...layerRules,
  {
    files: ['**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      globals: {
        process: 'readonly',
        module: 'writable',
        require: 'readonly',
        __dirname: 'readonly',
        URL: 'readonly',
        console: 'readonly',
      },
    },
  },
);
