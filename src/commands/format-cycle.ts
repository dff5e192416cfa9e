import type { CycleSummary } from '../events.js';
import { terminalSafe } from '../output/terminal-text.js';

/** A cycle summary as a few human lines; the error (a provider's or the database's text) with its control characters escaped. */
export function formatCycle(summary: CycleSummary): string[] {
  const lines = [
    `set ${terminalSafe(summary.set)}: cycle ${summary.id} ${summary.status} in ${(summary.durationMs / 1000).toFixed(1)} s`,
    `  users ${summary.users}, observed ${summary.observed}, failed ${summary.failed}, calls ${summary.calls}, transitions ${summary.transitions}`,
  ];
  const pairs = Object.entries(summary.pairs).sort((a, b) => b[1] - a[1]);
  if (pairs.length > 0)
    lines.push(`  transitions: ${pairs.map(([pair, n]) => `${pair.replace('null→', 'first→')} ${n}`).join(', ')}`);
  if (summary.error) lines.push(`  error: ${terminalSafe(summary.error)}`);
  return lines;
}
