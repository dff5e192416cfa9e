// PM2 process file: `pm2 start ecosystem.config.js`. The package is ESM, and PM2 loads this file
// with require(), which on Node >= 20.19 returns the module's namespace: hence the named `apps`
// export rather than `module.exports`.
//
// Secrets (TIM_SECRET_KEY...) and DATABASE_URL come from the environment PM2 is started in, or
// an `env_file`-style wrapper of your own; never write them here.
//
// Several instances (exec_mode 'cluster' with `instances`, or several hosts) are safe on Postgres:
// a per-app advisory lock makes exactly one instance poll an app at a time and another take over
// when it dies. See ecosystem.cluster.config.js. The embedded database (no DATABASE_URL) is one
// process only.

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
    // `online` only once the daemon says `ready`: migrations applied, sets loaded and scheduled,
    // /metrics and /healthz listening. A first start that migrates a large history may take a while.
    wait_ready: true,
    listen_timeout: 60_000,
    // Longer than the daemon's own graceful shutdown (8 s for calls in flight, then closing), so a
    // reload or stop lets the batches in flight commit: nothing is lost, nothing is written twice.
    kill_timeout: 12_000,
    max_memory_restart: '512M',
    // Crash loops back off exponentially (200 ms doubling up to 15 s) instead of hammering the
    // provider and the database.
    exp_backoff_restart_delay: 200,
    // Exit code 2 is a usage or configuration error (a bad variable, a listener address in use):
    // restarting cannot fix it, so PM2 stops the app (`errored`/`stopped`) instead of looping.
    // Fix the setting, run `presence check-config`, then `pm2 delete` + `pm2 start` (docs/production.md).
    stop_exit_codes: [2],
    // Logs: pino writes JSON lines with their own `time`, so PM2 adds no date prefix (`time: false`,
    // no log_date_format), and every instance appends to one out and one error file
    // (`merge_logs`), the files pm2-logrotate rotates (`pm2 install pm2-logrotate`).
    time: false,
    merge_logs: true,
    env: { NODE_ENV: 'production' },
  },
];
