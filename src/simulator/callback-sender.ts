// The simulator's push side: watches a PresenceWorld's users and POSTs a signed Tencent
// State.StateChange callback to a URL at each change of state, as Tencent IM does. Faults on
// demand: duplicates, reordering (an event held back so later ones overtake it) and bad
// signatures. Like Tencent it never retries; every attempt is logged in `sent`.
import { Agent, request } from 'undici';
import { callbackSign } from '../callbacks/sign.js';
import type { ObservedState } from '../model.js';
import type { PresenceWorld } from './world.js';

/** Options of startCallbackSender. */
export interface CallbackSenderOptions {
  world: PresenceWorld;
  /** The SdkAppid the users belong to. */
  appId: string;
  userIds: readonly string[];
  /** The receiver's URL, path included (the callback URL of the IM console). */
  url: string;
  /** The callback authentication token. */
  token: string;
  /** Share of events sent twice (the copy `duplicateDelayMs` later). Default 0. */
  duplicateRate?: number;
  /** Default 50. */
  duplicateDelayMs?: number;
  /** Share of events held back `reorderDelayMs`, so that later events overtake them. Default 0. */
  reorderRate?: number;
  /** Default 500. */
  reorderDelayMs?: number;
  /** Share of events sent with a wrong Sign (and never resent). Default 0. */
  badSignatureRate?: number;
  /** Uniform [0, 1) source for the fault draws. Default Math.random. */
  random?: () => number;
  /** Per-request timeout, ms (Tencent waits 2 s). Default 2000. */
  timeoutMs?: number;
}

/** A change of a user's modelled state, at the first whole millisecond of the new state. */
export interface WorldChange {
  userId: string;
  from: ObservedState;
  to: ObservedState;
  atMs: number;
}

/** One POST the sender made. */
export interface SentCallback extends WorldChange {
  action: 'Login' | 'Logout' | 'Disconnect';
  /** `event` (the first send), `duplicate` (the copy), `bad-sign` (sent with a wrong Sign). */
  kind: 'event' | 'duplicate' | 'bad-sign';
  /** Whether the event was held back to be overtaken. */
  delayed: boolean;
  sentAtMs: number;
  /** HTTP status of the answer, or `error` (refused connection, timeout). */
  status: number | 'error';
  /** The answer's ActionStatus, when it was JSON. */
  actionStatus?: string;
  /** Why there was no answer (an undici or socket error code), when status is `error`. */
  error?: string;
}

/** A running sender. */
export interface CallbackSender {
  /** Every change of state of the users since start, sent or not. */
  readonly changes: WorldChange[];
  /** Every POST made, in order of completion. */
  readonly sent: SentCallback[];
  /** Stops watching, waits for POSTs in flight (held-back events still waiting are not sent), closes connections. Idempotent. */
  stop(): Promise<void>;
}

const ACTION_OF: Record<ObservedState, SentCallback['action']> = {
  Online: 'Login',
  Offline: 'Logout',
  PushOnline: 'Disconnect',
};
const REASON_OF: Record<SentCallback['action'], string> = {
  Login: 'Register',
  Logout: 'Unregister',
  Disconnect: 'LinkClose',
};

// A binary min-heap of (time, user index): one timer serves any number of users.
class TimeHeap {
  private readonly times: number[] = [];
  private readonly users: number[] = [];
  get size(): number {
    return this.times.length;
  }
  peek(): number {
    return this.times[0] ?? Infinity;
  }
  push(time: number, user: number): void {
    let i = this.times.length;
    this.times.push(time);
    this.users.push(user);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.times[parent] ?? 0) <= time) break;
      this.swap(i, parent);
      i = parent;
    }
  }
  pop(): { time: number; user: number } | undefined {
    const time = this.times[0];
    const user = this.users[0];
    if (time === undefined || user === undefined) return undefined;
    const lastTime = this.times.pop()!;
    const lastUser = this.users.pop()!;
    if (this.times.length > 0) {
      this.times[0] = lastTime;
      this.users[0] = lastUser;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.times.length && this.times[l]! < this.times[m]!) m = l;
        if (r < this.times.length && this.times[r]! < this.times[m]!) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return { time, user };
  }
  private swap(a: number, b: number): void {
    [this.times[a], this.times[b]] = [this.times[b]!, this.times[a]!];
    [this.users[a], this.users[b]] = [this.users[b]!, this.users[a]!];
  }
}

/** Starts sending callbacks for the world's changes from now on. */
export function startCallbackSender(options: CallbackSenderOptions): CallbackSender {
  const { world, appId, userIds, url, token } = options;
  const random = options.random ?? Math.random;
  const timeoutMs = options.timeoutMs ?? 2_000;
  const agent = new Agent({ keepAliveTimeout: 2_000, connections: 16 });
  const changes: WorldChange[] = [];
  const sent: SentCallback[] = [];
  const inFlight = new Set<Promise<void>>();
  const heldBack = new Set<NodeJS.Timeout>();
  const heap = new TimeHeap();
  const startMs = Date.now();
  const last: ObservedState[] = userIds.map((u) => world.stateAt(appId, u, startMs).state);
  userIds.forEach((u, i) => heap.push(world.segmentEndMs(appId, u, startMs), i));
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const post = (change: WorldChange, kind: SentCallback['kind'], delayed: boolean): void => {
    const action = ACTION_OF[change.to];
    const requestTime = String(Math.floor(Date.now() / 1000));
    const sign = kind === 'bad-sign' ? callbackSign(`${token}-wrong`, requestTime) : callbackSign(token, requestTime);
    const target = new URL(url);
    const query = {
      SdkAppid: appId,
      CallbackCommand: 'State.StateChange',
      contenttype: 'json',
      ClientIP: '127.0.0.1',
      OptPlatform: 'Web',
      Sign: sign,
      RequestTime: requestTime,
    };
    for (const [k, v] of Object.entries(query)) target.searchParams.set(k, v);
    const body = JSON.stringify({
      CallbackCommand: 'State.StateChange',
      EventTime: change.atMs,
      Info: { Action: action, To_Account: change.userId, Reason: REASON_OF[action] },
      KickedDevice: [],
    });
    const entry: SentCallback = { ...change, action, kind, delayed, sentAtMs: Date.now(), status: 'error' };
    const work = (async () => {
      try {
        const res = await request(target, {
          dispatcher: agent,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        entry.status = res.statusCode;
        const text = await res.body.text();
        try {
          const answer = JSON.parse(text) as { ActionStatus?: unknown };
          if (typeof answer.ActionStatus === 'string') entry.actionStatus = answer.ActionStatus;
        } catch {
          // Not JSON: the status says enough.
        }
      } catch (err) {
        entry.status = 'error';
        entry.error = (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));
      }
      sent.push(entry);
    })();
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };

  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      heldBack.delete(t);
      if (!stopped) fn();
    }, ms);
    heldBack.add(t);
  };

  const emit = (change: WorldChange): void => {
    changes.push(change);
    const badSign = random() < (options.badSignatureRate ?? 0);
    const delayed = random() < (options.reorderRate ?? 0);
    const duplicate = random() < (options.duplicateRate ?? 0);
    const kind = badSign ? 'bad-sign' : 'event';
    const send = (): void => {
      post(change, kind, delayed);
      if (duplicate && !badSign) later(options.duplicateDelayMs ?? 50, () => post(change, 'duplicate', delayed));
    };
    if (delayed) later(options.reorderDelayMs ?? 500, send);
    else send();
  };

  const run = (): void => {
    timer = undefined;
    if (stopped) return;
    const now = Date.now();
    while (heap.peek() <= now) {
      const { time: boundary, user } = heap.pop()!;
      const userId = userIds[user]!;
      // The first whole millisecond inside the next segment (the boundary is fractional).
      let atMs = Math.ceil(boundary);
      while (world.segmentEndMs(appId, userId, atMs) - boundary < 1) atMs++;
      const to = world.stateAt(appId, userId, atMs).state;
      const from = last[user]!;
      if (to !== from) {
        last[user] = to;
        emit({ userId, from, to, atMs });
      }
      heap.push(world.segmentEndMs(appId, userId, atMs), user);
    }
    if (heap.size > 0) timer = setTimeout(run, Math.max(0, heap.peek() - Date.now()));
  };
  run();

  let stopping: Promise<void> | undefined;
  return {
    changes,
    sent,
    stop: () =>
      (stopping ??= (async () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        for (const t of heldBack) clearTimeout(t);
        heldBack.clear();
        await Promise.allSettled([...inFlight]);
        await agent.close();
      })()),
  };
}
