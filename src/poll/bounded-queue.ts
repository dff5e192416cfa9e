// Runs tasks with at most `concurrency` at once (p-limit) while the producer reads ahead no more
// than twice that: a cycle over millions of users holds a bounded number of pages in memory.
import pLimit from 'p-limit';

/** A task queue whose push() waits while the queue is full. */
export interface BoundedQueue {
  /** Queues a task (which must not throw); resolves once there is room for the next push. */
  push(task: () => Promise<void>): Promise<void>;
  /** Resolves when every queued task has finished. */
  drain(): Promise<void>;
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
      if (pending.size >= concurrency * 2) await Promise.race(pending);
    },
    async drain() {
      await Promise.all(pending);
    },
  };
}
