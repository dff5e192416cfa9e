// The per-app poll locks on Postgres: one holder at a time, and close() releases them for the next
// holder, also when called twice (the second call waits for the first).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { advisoryLocks } from '../../src/poll/poll-locks.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

describe.skipIf(!process.env.TEST_DATABASE_URL)('poll locks (postgres)', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('lets one holder poll an app, and hands it over once the holder closes (close twice waits for the same release)', async () => {
    const newClient = database.sessionClient!;
    const first = advisoryLocks(newClient, silentLogger());
    const second = advisoryLocks(newClient, silentLogger());
    try {
      expect(await first.tryHold('tencent:1')).toBe('acquired');
      expect(await first.tryHold('tencent:1')).toBe('held');
      expect(await second.tryHold('tencent:1')).toBe('other');
      // Another app is free.
      expect(await second.tryHold('tencent:2')).toBe('acquired');
      const signal = first.signal('tencent:1');
      expect(signal.aborted).toBe(false);
      void first.close();
      await first.close();
      expect(await second.tryHold('tencent:1')).toBe('acquired');
      expect(await first.tryHold('tencent:1')).toBe('unavailable');
    } finally {
      await first.close();
      await second.close();
    }
  });
});
