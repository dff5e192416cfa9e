// A one-line progress bar for long commands on a terminal: `users add` of a large file,
// `check-accounts`, `poll`. It redraws in place on stderr (so stdout stays clean for pipes) at most
// every 100 ms, and does nothing at all when the stream is not a terminal: logs and pipes never see
// a carriage return. Hand-written: the whole job is one line of formatting, which a library would
// not make shorter.

/** Where a bar is drawn (process.stderr, or a fake terminal in tests). */
export interface ProgressStream {
  isTTY?: boolean;
  /** Terminal width; 80 when unknown. */
  columns?: number;
  write(chunk: string): unknown;
}

/** A running progress display. */
export interface Progress {
  /** Sets how many of `total` are done (redrawn at most every `minIntervalMs`). */
  update(done: number): void;
  /** Draws the final state and ends the line. Safe to call twice. */
  finish(): void;
}

/** Options of createProgress. */
export interface ProgressOptions {
  /** What is being done, e.g. `polling vip`. */
  label: string;
  total: number;
  /** What is counted, e.g. `users`. */
  unit: string;
  now?: () => number;
  minIntervalMs?: number;
}

const NOTHING: Progress = { update: () => undefined, finish: () => undefined };

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
}

/** One frame of the bar, at most `width` characters. */
export function renderProgress(
  label: string,
  done: number,
  total: number,
  unit: string,
  elapsedMs: number,
  width: number,
): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const eta = rate > 0 ? (total - done) / rate : Infinity;
  const percent = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const tail = `${percent} ${count(done)}/${count(total)} ${unit}  ${count(rate)}/s  ${done >= total ? `in ${duration(elapsedMs / 1000)}` : `eta ${duration(eta)}`}`;
  const barWidth = Math.max(0, Math.min(30, width - label.length - tail.length - 4));
  const filled = Math.round(fraction * barWidth);
  const bar = barWidth > 0 ? ` [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]` : '';
  return `${label}${bar} ${tail}`.slice(0, width);
}

/** A progress bar on `stream` when it is a terminal; otherwise one that draws nothing. */
export function createProgress(stream: ProgressStream | undefined, options: ProgressOptions): Progress {
  if (!stream?.isTTY) return NOTHING;
  const now = options.now ?? Date.now;
  const minInterval = options.minIntervalMs ?? 100;
  const started = now();
  let lastDraw = -Infinity;
  let drawn = -1;
  let done = 0;
  let finished = false;
  const draw = () => {
    const width = Math.max(20, (stream.columns ?? 80) - 1);
    // \r back to the line start, \x1b[K clears what a longer previous frame left.
    stream.write(`\r${renderProgress(options.label, done, options.total, options.unit, now() - started, width)}\x1b[K`);
    lastDraw = now();
    drawn = done;
  };
  return {
    update(value) {
      if (finished) return;
      done = value;
      if (now() - lastDraw >= minInterval) draw();
    },
    finish() {
      if (finished) return;
      finished = true;
      if (drawn !== done) draw();
      stream.write('\n');
    },
  };
}
