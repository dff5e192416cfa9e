// Cycles whose poll_cycle row could not be written when they ran (the database was down) are kept
// here and written, with their real start and end, once it is back: the record of cycles then
// shows the outage as failed cycles instead of a silence.
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { CycleSummary } from '../events.js';
import type { Logger } from '../logger.js';
import { recordLateCycle } from '../store/poll-cycles.js';

/** Past this many (days of per-second cycles) the oldest are dropped, and the log says so. */
const MAX_KEPT = 10_000;

/** The cycles of a database outage, oldest first. */
export class UnwrittenCycles {
  private readonly cycles: CycleSummary[] = [];
  private dropped = 0;

  constructor(private readonly logger: Logger) {}

  /** How many are waiting. */
  get size(): number {
    return this.cycles.length;
  }

  /** Keeps a cycle to write later. */
  keep(summary: CycleSummary): void {
    this.cycles.push(summary);
    if (this.cycles.length > MAX_KEPT) {
      this.cycles.shift();
      this.dropped++;
    }
  }

  /** Writes what is kept, oldest first; stops (and keeps the rest) at the first failure. */
  async write(db: Kysely<Database>): Promise<void> {
    if (this.dropped > 0) {
      this.logger.warn({ dropped: this.dropped }, 'cycles of a long database outage were not kept for poll_cycle');
      this.dropped = 0;
    }
    while (this.cycles.length > 0) {
      const c = this.cycles[0]!;
      await recordLateCycle(db, {
        id: c.id,
        set: c.set,
        startedAt: c.startedAt,
        finishedAt: c.finishedAt,
        status: c.status,
        error: c.error,
        counts: c,
      });
      this.cycles.shift();
    }
  }
}
