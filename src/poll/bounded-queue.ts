// Runs tasks with at most `concurrency` at once (p-limit) while the producer reads ahead no more
// than twice that: a cycle over millions of users holds a bounded number of pages in memory. The
// limit can change while tasks run (the pipeline sizes it from the rate and the latency).
import pLimit from 'p-limit';

/** A task queue whose push() waits while the queue is full. */
export interface BoundedQueue {
  /** Queues a task (which must not throw); resolves once there is room for the next push. */
  push(task: () => Promise<void>): Promise<void>;
  /** Resolves when every queued task has finished. */
  drain(): Promise<void>;
  /** Most tasks running at once; settable (at least 1). */
  concurrency: number;
}

/** A queue running at most `concurrency` tasks, holding at most `2 × concurrency` queued or running. */
export function boundedQueue(concurrency: number): BoundedQueue {
  const limit = pLimit(concurrency);
  const pending = new Set<Promise<void>>();
  return {
    async push(task) {
      const run = limit(task);
      pending.add(run);
      void run.finally(() => pending.delete(run));
      while (pending.size >= limit.concurrency * 2) await Promise.race(pending);
    },
    async drain() {
      await Promise.all(pending);
    },
    get concurrency() {
      return limit.concurrency;
    },
    set concurrency(n: number) {
      limit.concurrency = Math.max(1, Math.round(n));
    },
  };
}
