// Every way an error can reach a log or a screen, for tests that prove no secret is in any of them.
import { inspect } from 'node:util';
import { expect } from 'vitest';
import { ProviderError } from '../../src/errors.js';

/** Everything an error could show: message, stack, own properties (hidden too), the cause chain. */
export function renderings(err: unknown): string[] {
  const out: string[] = [inspect(err, { depth: 20, showHidden: true }), String(err), JSON.stringify(err) ?? ''];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    if (current instanceof Error) {
      const e: Error = current;
      out.push(e.message, e.stack ?? '', JSON.stringify(e, Object.getOwnPropertyNames(e)));
      out.push(
        JSON.stringify(Object.fromEntries(Object.getOwnPropertyNames(e).map((k) => [k, String(Reflect.get(e, k))]))),
      );
      current = e.cause;
    } else {
      out.push(inspect(current, { depth: 20, showHidden: true }));
      break;
    }
  }
  return out;
}

/** A `failure(promise)` that expects a ProviderError and keeps every one in `errors` for a final secrets check. */
export function failureCollector(errors: unknown[]): (promise: Promise<unknown>) => Promise<ProviderError> {
  return async (promise) => {
    try {
      await promise;
    } catch (err) {
      errors.push(err);
      expect(err).toBeInstanceOf(ProviderError);
      return err as ProviderError;
    }
    throw new Error('expected the call to fail');
  };
}
