// Fuzzing the callback reader with seeded malformed bodies (test/helpers/callback-mutations.ts):
// truncated, fields of the wrong type, keys twice, nesting, huge values, bad strings, junk, and
// rewritings that keep the meaning. The only outcomes allowed: refused, or exactly the event of
// the unmutated body. Then a sample through the real receiver: what it answers 200 to is written
// as the original event, what it refuses writes nothing.
import { describe, expect, it } from 'vitest';
import { CallbackRejection, parseCallbackBody, type ParsedCallback } from '../../src/callbacks/parse.js';
import { CallbackReceiver } from '../../src/callbacks/receiver.js';
import { silentLogger } from '../../src/logger.js';
import { seededRandom } from '../../src/simulator/seeded-random.js';
import { addWatchSet } from '../../src/store/watch-sets.js';
import { addWatchedUsers } from '../../src/store/watched-users.js';
import { postCallback } from '../helpers/callback-request.js';
import { mutateBody, type Mutation } from '../helpers/callback-mutations.js';
import { createTestDatabase, DATABASE_KIND } from '../helpers/database.js';

const APP = '1400000044';
const TOKEN = 'fuzz-token-91c2';
const ACTIONS = ['Login', 'Logout', 'Disconnect'] as const;
const REASONS = { Login: 'Register', Logout: 'Unregister', Disconnect: 'TimeOut' } as const;

/** Valid bodies of distinct users, EventTime a few seconds before `nowMs`. */
function originals(nowMs: number): Array<Record<string, unknown>> {
  return Array.from({ length: 8 }, (_, i) => {
    const action = ACTIONS[i % 3]!;
    return {
      CallbackCommand: 'State.StateChange',
      EventTime: nowMs - (i + 1) * 1_000,
      Info: { Action: action, To_Account: `fuzz-${i}`, Reason: REASONS[action] },
      KickedDevice: [{ Platform: i % 2 ? 'iOS' : 'Android' }],
    };
  });
}

function query(nowMs: number): URLSearchParams {
  return new URLSearchParams({
    SdkAppid: APP,
    CallbackCommand: 'State.StateChange',
    contenttype: 'json',
    RequestTime: String(Math.floor(nowMs / 1000)),
  });
}

type Outcome = 'refused' | 'event' | `wrong: ${string}`;

function outcomeOf(read: () => ParsedCallback, original: Record<string, unknown>): Outcome {
  let parsed: ParsedCallback;
  try {
    parsed = read();
  } catch (err) {
    if (err instanceof CallbackRejection && err.status >= 400 && err.status < 500) return 'refused';
    return `wrong: threw ${String(err)}`;
  }
  const info = original['Info'] as Record<string, string>;
  const expected = {
    kind: 'state-change',
    event: {
      sdkAppId: APP,
      userId: info['To_Account'],
      action: info['Action'],
      eventTimeMs: original['EventTime'],
      reason: info['Reason'],
    },
  };
  return JSON.stringify(parsed) === JSON.stringify(expected) ? 'event' : `wrong: read as ${JSON.stringify(parsed)}`;
}

function allowed(mutation: Mutation, outcome: Outcome): boolean {
  return mutation.expect === 'either' ? outcome === 'event' || outcome === 'refused' : outcome === mutation.expect;
}

describe('callback body fuzz', () => {
  it('reads 4,000 seeded malformed variants as refused or as exactly the original event', () => {
    const nowMs = 1_767_225_600_000;
    const random = seededRandom(13);
    const bodies = originals(nowMs);
    const tally = new Map<string, number>();
    const wrong: string[] = [];
    let n = 0;
    for (const [i, body] of bodies.entries()) {
      for (const mutation of mutateBody(body, 500, random)) {
        n++;
        const outcome = outcomeOf(() => parseCallbackBody(APP, query(nowMs), mutation.text), body);
        const key = `${mutation.kind.split(' ').slice(0, 2).join(' ')} → ${outcome.startsWith('wrong') ? 'wrong' : outcome}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
        if (!allowed(mutation, outcome) && wrong.length < 10)
          wrong.push(
            `body ${i}, ${mutation.kind} (expected ${mutation.expect}): ${outcome}: ${mutation.text.slice(0, 160)}`,
          );
      }
    }
    expect(n).toBe(4_000);
    expect(wrong).toEqual([]);
    // Both outcomes occurred, so the test cannot pass by refusing (or accepting) everything.
    const outcomes = [...tally.keys()].map((k) => k.split(' → ')[1]);
    expect(outcomes).toContain('event');
    expect(outcomes).toContain('refused');
  });

  it(`through the receiver (${DATABASE_KIND}): 200 means the original event was written, a refusal writes nothing`, async () => {
    const database = await createTestDatabase();
    const receiver = new CallbackReceiver({
      db: database.db,
      logger: silentLogger(),
      host: '127.0.0.1',
      port: 0,
      path: '/cb',
      token: () => TOKEN,
    });
    try {
      await addWatchSet(database.db, { name: 'fz', provider: 'tencent', appId: APP, schedule: '0 * * * * *' });
      const bodies = originals(Date.now());
      await addWatchedUsers(
        database.db,
        'fz',
        bodies.map((b) => (b['Info'] as Record<string, string>)['To_Account']!),
      );
      await receiver.start();
      const random = seededRandom(31);
      const statuses = new Map<number, number>();
      const wrong: string[] = [];
      for (const body of bodies) {
        for (const mutation of mutateBody(body, 20, random)) {
          const bytes = Buffer.byteLength(mutation.text);
          const answer = await postCallback(receiver.url, { sdkAppId: APP, token: TOKEN, body: mutation.text });
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          const expected =
            bytes > 64 * 1024
              ? [413]
              : mutation.expect === 'event'
                ? [200]
                : mutation.expect === 'refused'
                  ? [400]
                  : [200, 400];
          if (!expected.includes(answer.status) && wrong.length < 10)
            wrong.push(
              `${mutation.kind}: ${answer.status} ${answer.text.slice(0, 120)} for ${mutation.text.slice(0, 120)}`,
            );
        }
      }
      expect(wrong).toEqual([]);
      expect(statuses.get(200)).toBeGreaterThan(0);
      expect(statuses.get(400)).toBeGreaterThan(0);
      // Whatever was written is one of the original events: the first observation of its user.
      const rows = await database.db
        .selectFrom('presence_transition')
        .select(['user_id', 'from_state', 'to_state', 'changed_at'])
        .execute();
      const truth = new Map(
        bodies.map((b) => {
          const info = b['Info'] as Record<string, string>;
          const state = { Login: 'Online', Logout: 'Offline', Disconnect: 'PushOnline' }[info['Action']!];
          return [
            info['To_Account'],
            {
              user_id: info['To_Account'],
              from_state: null,
              to_state: state,
              changed_at: new Date(b['EventTime'] as number),
            },
          ];
        }),
      );
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) expect(row).toEqual(truth.get(row.user_id));
    } finally {
      await receiver.stop();
      await database.close();
    }
  });
});
