// PM2 process file for several instances on one host: `pm2 start ecosystem.cluster.config.js`.
// Needs Postgres (DATABASE_URL): the embedded database is one process only. Every instance runs
// every set's schedule, and a per-app Postgres advisory lock makes exactly one of them poll an app
// in a cycle; when that instance dies or is reloaded, another takes the app over within a cycle.
// `pm2 reload` replaces the instances one at a time (each waits for `ready`), so polling never
// stops during a deploy.
//
// Each instance needs its own /metrics port: `increment_var` gives instance N the port 9464 + N.
// Scrape them all (see docs/production.md).
import { apps as single } from './ecosystem.config.js';

/** The daemon in PM2 cluster mode, two instances. */
export const apps = [
  {
    ...single[0],
    name: 'presence-poller',
    exec_mode: 'cluster',
    instances: 2,
    increment_var: 'PRESENCE_HTTP',
    // As in fork mode: a configuration error (exit 2) stops instead of looping.
    stop_exit_codes: [2],
    env: { ...single[0].env, PRESENCE_HTTP: '9464' },
  },
];
