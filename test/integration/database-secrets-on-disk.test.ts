// The database password kept out of the environment (and so out of a PM2 dump): DATABASE_URL_FILE
// names a file holding the URL, or PGPASSFILE a libpq password file that pg reads when the URL has
// no password. On Postgres the built CLI connects through each; a server that asks for a password
// shows that the one sent is the file's, and nothing the CLI prints contains it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCliTarget, runBuiltCli, type CliTarget } from '../helpers/cli.js';

const onPostgres = process.env.TEST_DATABASE_URL !== undefined;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'presence-db-secret-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.runIf(onPostgres)('DATABASE_URL_FILE on Postgres', () => {
  let target: CliTarget;
  beforeAll(async () => {
    target = await createCliTarget();
  });
  afterAll(async () => {
    await target?.close();
  });

  it('migrates and answers status through the URL in the file, none in the environment', async () => {
    const file = join(dir, 'database-url');
    await writeFile(file, `${target.baseEnv().DATABASE_URL}\n`, { mode: 0o600 });
    const migrate = await runBuiltCli(['migrate'], { DATABASE_URL_FILE: file });
    expect(migrate.code, migrate.stderr).toBe(0);
    const status = await runBuiltCli(['status', '--json'], { DATABASE_URL_FILE: file });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ sets: [] });
  });

  it('refuses DATABASE_URL and DATABASE_URL_FILE both set, naming both (exit 2)', async () => {
    const file = join(dir, 'database-url');
    const r = await runBuiltCli(['status'], { DATABASE_URL_FILE: file, DATABASE_URL: target.baseEnv().DATABASE_URL });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('DATABASE_URL and DATABASE_URL_FILE are both set');
  });

  it('connects with PGPASSFILE and a URL without a password', async () => {
    const url = new URL(target.baseEnv().DATABASE_URL!);
    const passfile = join(dir, 'pgpass-real');
    // Trust authentication on this server: the file is read, and the connection works with it.
    await writeFile(passfile, `${url.hostname}:${url.port || 5432}:*:${url.username || 'postgres'}:unused\n`, {
      mode: 0o600,
    });
    const r = await runBuiltCli(['status', '--json'], { DATABASE_URL: url.toString(), PGPASSFILE: passfile });
    expect(r.code, r.stderr).toBe(0);
  });
});

/** A server that speaks just enough of the Postgres protocol to ask for a cleartext password. */
function passwordAskingServer(received: string[]): Server {
  return createServer((socket: Socket) => {
    let buffer = Buffer.alloc(0);
    let started = false;
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!started) {
        if (buffer.length < 4 || buffer.length < buffer.readInt32BE(0)) return;
        const length = buffer.readInt32BE(0);
        const code = buffer.readInt32BE(4);
        buffer = buffer.subarray(length);
        if (code === 80877103) return void socket.write('N'); // SSLRequest: no
        started = true;
        const ask = Buffer.alloc(9);
        ask.write('R', 0);
        ask.writeInt32BE(8, 1);
        ask.writeInt32BE(3, 5); // AuthenticationCleartextPassword
        socket.write(ask);
        return;
      }
      if (buffer.length < 5 || buffer.length < 1 + buffer.readInt32BE(1)) return;
      if (buffer.toString('latin1', 0, 1) === 'p') {
        received.push(buffer.toString('utf8', 5, 1 + buffer.readInt32BE(1) - 1));
        const fields = Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0', 'utf8');
        const error = Buffer.alloc(5);
        error.write('E', 0);
        error.writeInt32BE(4 + fields.length, 1);
        socket.end(Buffer.concat([error, fields]));
      }
    });
  });
}

describe('PGPASSFILE', () => {
  it('sends the password from the file when the URL has none, and prints it nowhere', async () => {
    const received: string[] = [];
    const server = passwordAskingServer(received);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const passfile = join(dir, 'pgpass');
      await writeFile(passfile, `127.0.0.1:${port}:presence:presence:pw-from-the-file-0123\n`, { mode: 0o600 });
      // migrate (not a read-only command, whose schema check would say "no presence schema") shows the server's answer.
      const r = await runBuiltCli(['migrate'], {
        DATABASE_URL: `postgres://presence@127.0.0.1:${port}/presence`,
        PGPASSFILE: passfile,
      });
      expect(r.code).not.toBe(0);
      expect(received).toEqual(['pw-from-the-file-0123']);
      expect(`${r.stdout}${r.stderr}`).toContain('password authentication failed');
      expect(`${r.stdout}${r.stderr}`).not.toContain('pw-from-the-file');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
