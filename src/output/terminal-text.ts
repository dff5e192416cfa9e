// Text from outside (a provider's platform name, a user ID, a set name or an error text written
// into the database) ends up on terminals. A terminal obeys control characters instead of showing
// them: ESC [ 2 J clears the screen, CR rewrites the line, a bidirectional override reverses what
// follows. So every such character is shown as an escape instead, whatever the data.

/**
 * C0 controls (tab and newline included), DEL, C1 controls (U+0080..U+009F: some terminals take
 * U+009B as ESC [), and the bidirectional embeddings, overrides and isolates, which reorder what
 * a terminal shows after them.
 */
const UNSAFE = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'gu');
/** The same, but tab and newline are layout (a multi-line message, a usage text). */
const UNSAFE_IN_TEXT = /(?![\t\n])[\p{Cc}\u202a-\u202e\u2066-\u2069]/gu;

function escape(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** The first character of `text` a terminal would obey rather than show, or undefined. */
export function unsafeCharacter(text: string): string | undefined {
  return UNSAFE.exec(text)?.[0];
}

/** "U+001B": how a character is named in messages. */
export function codePointName(c: string): string {
  return `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** One value (a table cell, a name) with every control character shown as an escape (`\x1b`), tab and newline too. */
export function terminalSafe(value: string): string {
  return value.replace(UNSAFE_ALL, escape);
}

/** Lines for a terminal: like terminalSafe, but tab and newline are kept as layout. */
export function terminalSafeText(text: string): string {
  return text.replace(UNSAFE_IN_TEXT, escape);
}

/** `value` quoted for a message: JSON quotes, escapes for everything a terminal would obey, cut after `max` characters. */
export function quoted(value: string, max = 80): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return terminalSafe(JSON.stringify(cut));
}
