// Numbers given to `presence simulate` and `presence demo` are range-checked where they are
// parsed: exit 2 naming the option and the range, before a server starts or a database opens.
// '1e3' and '0x10' are typos, not 1000 and 16; a latency past setTimeout's limit fired at once.
import { describe, expect, it } from 'vitest';
import { simulateCommand } from '../../src/commands/simulate.js';
import { runCli } from '../helpers/cli.js';

/** Runs `presence simulate ARGV`, stopping it after `ms` if it did start. */
async function simulate(argv: string[], ms = 2_000): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), ms);
  try {
    const code = await simulateCommand(['--port', '0', ...argv], {
      env: { TIM_SECRET_KEY: 'ranges-key' },
      stdout: (l) => lines.push(l),
      stderr: (l) => lines.push(l),
      signal: stop.signal,
    });
    return { code, lines };
  } finally {
    clearTimeout(timer);
  }
}

describe('option ranges', () => {
  it('simulate refuses numbers out of range or not in plain digits, naming the option and the range', async () => {
    const cases: Array<[string[], string]> = [
      [['--latency-ms', '99999999999'], '--latency-ms must be a whole number of milliseconds from 0 to 60000'],
      [['--latency-ms', '1e3'], '--latency-ms must be a whole number of milliseconds from 0 to 60000, got "1e3"'],
      [
        ['--latency-ms', '50', '--latency-tail-ms', '40'],
        '--latency-tail-ms must be a whole number of milliseconds from 50 to 60000',
      ],
      [['--dwell-ms', '1e308'], '--dwell-ms must be a whole number of milliseconds from 1 to 86400000'],
      [['--rps', '100000000000000000000'], '--rps must be a whole number of calls per second from 1 to 1000000'],
      [['--port', '0x10'], '--port must be a whole number from 0 to 65535, got "0x10"'],
      [['--faults', 'hang=0.1', '--fault-seed=-1'], '--fault-seed must be a whole number from 0 to 4294967295'],
    ];
    for (const [argv, message] of cases) {
      const result = await simulate(argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.lines.join('\n')).toContain(message);
    }
    // In range, it serves.
    const ok = await simulate(['--latency-ms', '60000', '--rps', '1000000'], 500);
    expect(ok.code, ok.lines.join('\n')).toBe(0);
    expect(ok.lines.join('\n')).toContain('simulator listening on http://127.0.0.1:');
  });

  it('demo refuses --users and --seconds out of range or not in plain digits', async () => {
    const cases: Array<[string[], string]> = [
      [['--users', '0x10', '--seconds', '5'], '--users must be a whole number of users from 1 to 1000000, got "0x10"'],
      [['--users', '2000000'], '--users must be a whole number of users from 1 to 1000000, got "2000000"'],
      [['--seconds', '99999999999'], '--seconds must be a whole number of seconds from 5 to 86400'],
      [['--history', '91d'], '--history must be a number of days from 0d (none) to 90d, like 30d, got "91d"'],
      [['--history', '2w'], '--history must be a number of days from 0d (none) to 90d, like 30d, got "2w"'],
    ];
    for (const [argv, message] of cases) {
      const result = await runCli(['demo', ...argv], { PRESENCE_DATA_DIR: '/nonexistent/never-opened' });
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.err.join('\n')).toContain(message);
    }
  });
});
