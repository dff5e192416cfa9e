// Text shown on terminals: control characters become escapes (also in the daemon's readable log
// lines, which carry provider error texts and user IDs).
import { describe, expect, it } from 'vitest';
import { quoted, terminalSafe, terminalSafeText } from '../../src/output/terminal-text.js';
import { createLogger } from '../../src/logger.js';
import { prettyDestination } from '../../src/output/pretty-log.js';

const RAW_CONTROL = /(?![\t\n])[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;

describe('terminal-safe text', () => {
  it('shows C0, DEL, C1 and bidi controls as escapes; keeps tab and newline only as layout', () => {
    expect(terminalSafe('a\u001b[2Jb\tc\nd\u007fe\u009bf\u202eg')).toBe('a\\x1b[2Jb\\x09c\\x0ad\\x7fe\\x9bf\\u202eg');
    expect(terminalSafeText('a\u001b[2Jb\tc\nd\re')).toBe('a\\x1b[2Jb\tc\nd\\x0de');
    expect(terminalSafe('日本 é ok')).toBe('日本 é ok');
  });

  it('quotes a value for a message, cut after 80 characters', () => {
    expect(quoted('x\u0000\u009b')).toBe('"x\\u0000\\x9b"');
    expect(quoted('y'.repeat(100))).toBe(`"${'y'.repeat(80)}…"`);
  });

  it("the daemon's readable log lines on a terminal escape a provider's text in the message and in fields", () => {
    const written: string[] = [];
    const logger = createLogger('info', prettyDestination({ isTTY: true, write: (c: string) => written.push(c) }));
    logger.warn({ set: 'vip', err: '\u001b[2J\u009b31m' }, 'batch failed: \u001b]0;owned\u0007');
    const line = written.join('');
    expect(line).toContain('batch failed: \\x1b]0;owned\\x07');
    expect(line).toContain('err=\\x1b[2J\\x9b31m');
    // The level's own color is the only escape sequence left.
    expect(line.replace(new RegExp(`${'\u001b'}\\[\\d+m`, 'g'), '')).not.toMatch(RAW_CONTROL);
  });
});
