// Volcengine user, device and version IDs are int64: above 2^53 a JS number cannot hold them, so
// they must never pass through JSON.parse as numbers. Before parsing, the integer literals of the
// named fields are wrapped in quotes, so they arrive as exact decimal strings.

/** Decimal text of an int64 ID in 1..9223372036854775807, no sign, no leading zero. */
export const INT64_ID = /^[1-9]\d{0,18}$/;

/** The largest Volcengine user ID. */
export const INT64_MAX = 9_223_372_036_854_775_807n;

/** True when `id` is a decimal integer in 1..9223372036854775807 written without leading zeros. */
export function isInt64Id(id: string): boolean {
  return INT64_ID.test(id) && BigInt(id) <= INT64_MAX;
}

/** The keys the provider sends as int64 numbers. */
const NUMERIC_FIELDS = ['UserId', 'DeviceId', 'ClientVersion', 'AppId'];

/**
 * Parses JSON text in which the int64 fields `fields` (scalars) and `arrayFields` (arrays of
 * integers) become decimal strings. A `"Key":` preceded by a backslash is inside a string value
 * and is left alone.
 */
export function parseJsonWithInt64(
  text: string,
  fields: readonly string[] = NUMERIC_FIELDS,
  arrayFields: readonly string[] = [],
): unknown {
  let quoted = text;
  if (fields.length > 0) {
    const scalar = new RegExp(`(?<!\\\\)"(${fields.join('|')})"(\\s*:\\s*)(-?\\d+)(?=\\s*[,}\\]])`, 'g');
    quoted = quoted.replace(scalar, '"$1"$2"$3"');
  }
  if (arrayFields.length > 0) {
    const array = new RegExp(`(?<!\\\\)"(${arrayFields.join('|')})"(\\s*:\\s*)\\[([-\\d\\s,]*)\\]`, 'g');
    quoted = quoted.replace(array, (_m, key: string, sep: string, items: string) => {
      const values = items
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
      return `"${key}"${sep}[${values.map((v) => `"${v}"`).join(',')}]`;
    });
  }
  return JSON.parse(quoted) as unknown;
}

/** The request body `{"AppId":..,"UserIds":[..]}` with the IDs written as JSON numbers from their exact text. */
export function queryOnlineStatusBody(appId: string, userIds: readonly string[]): string {
  for (const id of [appId, ...userIds]) {
    // The IDs are written into JSON unquoted: anything but digits would change the document.
    if (!isInt64Id(id)) throw new RangeError(`not an int64 ID: ${JSON.stringify(id)}`);
  }
  return `{"AppId":${appId},"UserIds":[${userIds.join(',')}]}`;
}
