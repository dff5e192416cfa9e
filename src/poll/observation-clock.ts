// Where observation times come from (docs/history.md, "Where time comes from").
//
// On Postgres, from the database server's clock, so that every instance (a PM2 cluster, several
// hosts) stamps with one clock, and a takeover by a host whose clock is off changes nothing. The
// offset between the server's clock_timestamp() and this process's monotonic clock is sampled at
// start and at each reload: a few round trips, keeping the one with the smallest round trip, whose
// midpoint is taken as the moment the server read its clock (wrong by at most half that round trip,
// under a millisecond on a LAN). An observation is stamped serverTimeAtSync + (performance.now() -
// monotonicAtSync), so a host whose wall clock steps between syncs (a bad NTP step, a VM resume)
// stamps exactly as before. The host's clock still matters elsewhere (provider signatures, the
// operator's own tools), so its distance from the server's is logged when past the tolerance.
//
// On the embedded database (PGlite) the database runs in this process: its clock is the host clock
// and there is no second clock to trust. Observations carry the host clock, which is checked
// against the newest observation recorded: max(presence_current.last_seen_at), read once at start;
// afterwards every stamp this process issues raises that mark (no other process can write the
// folder). A host clock behind it by more than the tolerance is a clock fault: what it stamps is
// older than what is recorded and would be discarded.
import { systemClock, type Clock } from '../clock.js';
import type { DatabaseHandle } from '../db/connect.js';
import type { ClockReading } from '../events.js';
import type { Logger } from '../logger.js';
import { CLOCK_TOLERANCE_MS } from '../store/record-observations.js';
import { newestObservationMs, serverTimeMs } from '../store/server-time.js';

/** Log code of a host clock farther than the tolerance from the database server's (a warning: observations are unaffected). */
export const CLOCK_OFFSET = 'ERR_CLOCK_OFFSET';
/** Code of a clock fault: observations stamped now are older than what is recorded, and are discarded. */
export const CLOCK_BEHIND = 'ERR_CLOCK_BEHIND';

/** Round trips per sync; the one with the smallest round trip is kept. */
const SYNC_SAMPLES = 5;

/** The clock observations are stamped with. */
export interface ObservationClock {
  /** The time to stamp an observation (or a call's start) with. */
  now(): Date;
  /** Re-reads the reference, at start and at each reload; throws when the database cannot be read (the previous reading stays). */
  sync(): Promise<ClockReading>;
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

/** Notices steps of the host's wall clock: how much more (or less) it moved than the monotonic clock since the last call. */
function stepWatch(clocks: Clock, logger: Logger): () => number | undefined {
  let last: { wall: number; mono: number } | undefined;
  return () => {
    const now = { wall: clocks.now(), mono: clocks.monotonic() };
    const step = last === undefined ? 0 : now.wall - last.wall - (now.mono - last.mono);
    last = now;
    if (Math.abs(step) <= CLOCK_TOLERANCE_MS) return undefined;
    logger.warn(
      { code: CLOCK_OFFSET, stepMs: Math.round(step) },
      `the host clock jumped ${seconds(Math.abs(step))} s ${step > 0 ? 'forward' : 'back'} since the last check (an NTP step, a VM resume?); the schedules are re-armed on it`,
    );
    return step;
  };
}

/** Stamps with the database server's clock, carried between syncs by the monotonic clock (Postgres). */
export function serverObservationClock(
  readServerMs: () => Promise<number>,
  logger: Logger,
  clocks: Clock = systemClock,
): ObservationClock {
  let anchor: { serverMs: number; monoMs: number } | undefined;
  /** The offset last warned about: warned again only when it moves by more than the tolerance. */
  let warned: number | undefined;
  const step = stepWatch(clocks, logger);
  return {
    // Before the first sync (the database was unreachable at start) the host's clock is all there is.
    now: () => new Date(anchor ? anchor.serverMs + (clocks.monotonic() - anchor.monoMs) : clocks.now()),
    async sync() {
      let best: { serverMs: number; monoMs: number; wallMs: number; roundTripMs: number } | undefined;
      for (let i = 0; i < SYNC_SAMPLES; i++) {
        const sentMono = clocks.monotonic();
        const sentWall = clocks.now();
        const serverMs = await readServerMs();
        const receivedMono = clocks.monotonic();
        const receivedWall = clocks.now();
        if (!Number.isFinite(serverMs)) throw new Error('the database server returned no time');
        const roundTripMs = receivedMono - sentMono;
        if (best === undefined || roundTripMs < best.roundTripMs)
          best = {
            serverMs,
            monoMs: (sentMono + receivedMono) / 2,
            wallMs: (sentWall + receivedWall) / 2,
            roundTripMs,
          };
      }
      const kept = best!;
      anchor = { serverMs: kept.serverMs, monoMs: kept.monoMs };
      const offset = kept.wallMs - kept.serverMs;
      if (Math.abs(offset) > CLOCK_TOLERANCE_MS) {
        if (warned === undefined || Math.abs(offset - warned) > CLOCK_TOLERANCE_MS) {
          warned = offset;
          logger.warn(
            { code: CLOCK_OFFSET, offsetMs: Math.round(offset), roundTripMs: Math.round(kept.roundTripMs * 10) / 10 },
            `the host clock is ${seconds(Math.abs(offset))} s ${offset > 0 ? 'ahead of' : 'behind'} the database server's: observations are stamped with the server's, but provider signatures and your own tools read the host's; fix the host clock (NTP)`,
          );
        }
      } else if (warned !== undefined) {
        warned = undefined;
        logger.info({ offsetMs: Math.round(offset) }, "the host clock agrees with the database server's again");
      }
      const hostStepMs = step();
      return {
        source: 'database server',
        hostMinusServerMs: offset,
        roundTripMs: kept.roundTripMs,
        ...(hostStepMs === undefined ? {} : { hostStepMs }),
      };
    },
  };
}

/** Stamps with the host's clock, checked against the newest observation recorded (the embedded database). */
export function hostObservationClock(
  readNewestMs: () => Promise<number | undefined>,
  logger: Logger,
  clocks: Clock = systemClock,
): ObservationClock {
  /** The newest observation recorded or stamped: the host clock must not be behind it. */
  let newest = -Infinity;
  let read = false;
  let faulty = false;
  const step = stepWatch(clocks, logger);
  return {
    now() {
      const t = clocks.now();
      if (t > newest) newest = t;
      return new Date(t);
    },
    async sync() {
      if (!read) {
        const recorded = await readNewestMs();
        if (recorded !== undefined && recorded > newest) newest = recorded;
        read = true;
      }
      const hostStepMs = step();
      const behind = Math.max(0, newest - clocks.now());
      const reading: ClockReading = {
        source: 'host',
        behindNewestMs: behind,
        ...(hostStepMs === undefined ? {} : { hostStepMs }),
      };
      if (behind <= CLOCK_TOLERANCE_MS) {
        if (faulty) logger.info('the host clock has caught up with the newest observation recorded');
        faulty = false;
        return reading;
      }
      const fault = `the host clock is ${seconds(behind)} s behind the newest observation recorded (${new Date(newest).toISOString()}): what it stamps is older than what is recorded and is discarded; fix the host clock (NTP)`;
      if (!faulty) logger.error({ code: CLOCK_BEHIND, behindMs: Math.round(behind) }, fault);
      faulty = true;
      return { ...reading, fault };
    },
  };
}

/** The observation clock that fits a database: the server's on Postgres, the host's (checked) on PGlite. */
export function observationClockFor(
  database: Pick<DatabaseHandle, 'kind' | 'db'>,
  logger: Logger,
  clocks: Clock = systemClock,
): ObservationClock {
  return database.kind === 'postgres'
    ? serverObservationClock(() => serverTimeMs(database.db), logger, clocks)
    : hostObservationClock(() => newestObservationMs(database.db), logger, clocks);
}
