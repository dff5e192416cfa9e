// Server-side prepared statements for the few statements a poll runs hundreds of times a second
// (the diff statement: src/store/record-observations.ts). Kysely's pg driver sends every query
// unnamed, so Postgres parses and plans the diff statement's dozen CTEs again for every batch.
// A statement that begins with PREPARED_MARKER is sent with a name instead: parsed once per
// connection, and after five executions Postgres may keep a generic plan for it. Only marked
// statements are named, because node-postgres keeps a connection's named statements for its
// whole life: naming every text (IN lists of any length, ad-hoc reports) would grow without bound.
import { createHash } from 'node:crypto';
import type pg from 'pg';

/** The comment a statement's text begins with to be prepared once per connection. */
export const PREPARED_MARKER = '/* prepared */';

/** At most this many distinct marked texts get a name (a guard: the store marks one or two). */
const MOST_NAMED = 32;

const names = new Map<string, string>();

/** The statement name of a marked text: a digest of the text, so two texts never share a name. */
function nameOf(text: string): string | undefined {
  const known = names.get(text);
  if (known !== undefined || names.size >= MOST_NAMED) return known;
  const name = `presence_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
  names.set(text, name);
  return name;
}

/**
 * Makes `client` send each marked statement as a named (prepared) one; other queries go as they
 * came. Call it once per pool connection (the pool's `connect` event).
 */
export function prepareMarkedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const named = (...args: unknown[]): unknown => {
    const [text, values] = args;
    if (typeof text === 'string' && text.startsWith(PREPARED_MARKER) && args.length <= 2) {
      const name = nameOf(text);
      if (name !== undefined) return query({ name, text, values });
    }
    return query(...args);
  };
  // node-postgres's query() is overloaded (config object, callback, cursor); only the
  // (text, values) form Kysely uses is rewritten, and only for marked texts.
  client.query = named as typeof client.query;
}
