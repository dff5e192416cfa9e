// PM2 process file: `pm2 start ecosystem.config.js`. The package is ESM, and PM2 loads this file
// with require(), which on Node >= 20.19 returns the module's namespace: hence the named `apps`
// export rather than `module.exports`.
//
// Secrets (TIM_SECRET_KEY...) and DATABASE_URL come from the environment PM2 is started in, or
// an `env_file`-style wrapper of your own; never write them here.

/** The daemon: one instance in fork mode; it stops gracefully on SIGINT within PRESENCE_SHUTDOWN_MS (8 s). */
export const apps = [
  {
    name: 'presence-poller',
    // bin/presence.js runs the CLI unconditionally; PM2 loads scripts through its own wrapper,
    // so dist/cli.js would not see itself as the main module.
    script: 'bin/presence.js',
    args: 'run',
    cwd: import.meta.dirname,
    exec_mode: 'fork',
    instances: 1,
    // Longer than the daemon's own graceful shutdown (8 s for calls in flight, then closing).
    kill_timeout: 12_000,
    max_memory_restart: '512M',
    // Crash loops back off exponentially instead of hammering the provider and the database.
    exp_backoff_restart_delay: 200,
    // Logs are JSON lines with their own timestamps.
    time: false,
    merge_logs: true,
    env: { NODE_ENV: 'production' },
  },
];
