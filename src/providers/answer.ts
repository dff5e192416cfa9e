// What a provider's answer may say about the users of one batch (DESIGN.md semantic 8), whichever
// provider sent it: only users that were asked about, each once. A parser checks an answer's shape;
// this decides what of a well-shaped answer is recorded. An answer naming a user nobody asked about
// may belong to another request, so none of it is trusted; a user answered twice in two ways, or
// both answered and failed, is unobserved in that batch; a user the answer leaves out is unobserved.
import { providerError, type ProviderError } from '../errors.js';
import { show } from './http.js';
import type { Observation, Platforms } from '../model.js';
import type { AccountError, StateQueryResult } from './types.js';

/** Most characters of a platform name or a platform status taken from an answer. */
export const MAX_PLATFORM_TEXT = 64;
/** Most distinct platforms one user may have in an answer. */
export const MAX_PLATFORMS = 16;

/**
 * True when `text` holds a control character (jsonb cannot store \u0000, and none belongs in a
 * name) or a lone surrogate (not text at all: Postgres refuses it in jsonb).
 */
export function hasUnstorableChars(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

/**
 * Why a platform name or status from an answer cannot be stored, or undefined when it can: 1 to
 * MAX_PLATFORM_TEXT characters of well-formed text without control characters.
 */
export function platformTextProblem(text: string): string | undefined {
  if (text.length === 0) return 'is empty';
  if (text.length > MAX_PLATFORM_TEXT) return `is longer than ${MAX_PLATFORM_TEXT} characters`;
  if (hasUnstorableChars(text)) return 'holds control characters or broken Unicode';
  return undefined;
}

/** Platforms as stored: keys sorted (the same detail always gives the same object), every key data (`__proto__` too). */
export function platformsOf(platforms: ReadonlyMap<string, string | number>): Platforms {
  const out: Platforms = {};
  // The default sort orders by UTF-16 code units, as `<` does.
  const names = platforms.size > 1 ? [...platforms.keys()].sort() : platforms.keys();
  for (const name of names) {
    const value = platforms.get(name) as string | number;
    // Assigning `__proto__` would set the prototype (and drop the platform): define it instead.
    if (name === '__proto__')
      Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
    else out[name] = value;
  }
  return out;
}

/** Why a requested user of a successful call is not observed. */
export type UnobservedReason = 'unanswered' | 'conflicting';

/** What of an answer is recorded: requested users, each at most once. */
export interface AnswerReading {
  observations: Observation[];
  /** Requested users the answer says have no account (once each, and said of nothing else). */
  missingAccounts: string[];
  accountErrors: AccountError[];
  /** Requested users neither observed nor failed in ErrorList: left out of the answer, or answered in contradictory ways. */
  unobserved: { userId: string; reason: UnobservedReason }[];
}

function sameObservation(a: Observation, b: Observation): boolean {
  if (a.state !== b.state) return false;
  if (a.platforms === null || b.platforms === null) return a.platforms === b.platforms;
  return (
    JSON.stringify(platformsOf(new Map(Object.entries(a.platforms)))) ===
    JSON.stringify(platformsOf(new Map(Object.entries(b.platforms))))
  );
}

function notAsked(userId: string, provider: string): ProviderError {
  return providerError(
    'ERR_PROVIDER_BAD_RESPONSE',
    `${provider} answer names user ${show(userId)}, who was not asked about: it may answer another request, so none of it is recorded`,
    { provider },
  );
}

/** Throws ERR_PROVIDER_BAD_RESPONSE when the answer names a user not in `requested` (a client checks at once, so the call counts as failed). */
export function refuseStrangers(result: StateQueryResult, requested: readonly string[], provider: string): void {
  const asked = new Set(requested);
  for (const { userId } of [...result.observations, ...result.accountErrors])
    if (!asked.has(userId)) throw notAsked(userId, provider);
  for (const userId of result.missingAccounts) if (!asked.has(userId)) throw notAsked(userId, provider);
}

/**
 * Reads a parsed answer against the batch it answers. Throws ERR_PROVIDER_BAD_RESPONSE when it
 * names a user that was not asked about; a user answered twice the same way counts once.
 */
export function readAnswer(result: StateQueryResult, requested: readonly string[], provider: string): AnswerReading {
  const asked = new Set(requested);
  // What the answer said of each user: states, and failures ("no such account" is one of them).
  const said = new Map<string, { observations: Observation[]; failures: Array<number | string | null> }>();
  const entry = (userId: string) => {
    if (!asked.has(userId)) throw notAsked(userId, provider);
    let e = said.get(userId);
    if (!e) said.set(userId, (e = { observations: [], failures: [] }));
    return e;
  };
  for (const o of result.observations) entry(o.userId).observations.push(o);
  for (const e of result.accountErrors) entry(e.userId).failures.push(e.code);
  // null: the account does not exist.
  for (const userId of result.missingAccounts) entry(userId).failures.push(null);

  const reading: AnswerReading = { observations: [], missingAccounts: [], accountErrors: [], unobserved: [] };
  for (const userId of asked) {
    const e = said.get(userId);
    if (!e) {
      reading.unobserved.push({ userId, reason: 'unanswered' });
      continue;
    }
    const [firstObservation] = e.observations;
    const [firstFailure] = e.failures;
    if (firstObservation !== undefined && firstFailure === undefined) {
      // Compared only when repeated: a usual answer names each user once.
      if (e.observations.length === 1 || e.observations.every((o) => sameObservation(o, firstObservation)))
        reading.observations.push(firstObservation);
      else reading.unobserved.push({ userId, reason: 'conflicting' });
    } else if (firstFailure !== undefined && firstObservation === undefined) {
      if (!e.failures.every((f) => f === firstFailure)) reading.unobserved.push({ userId, reason: 'conflicting' });
      else if (firstFailure === null) reading.missingAccounts.push(userId);
      else reading.accountErrors.push({ userId, code: firstFailure });
    } else {
      // Answered and failed at once: neither can be believed.
      reading.unobserved.push({ userId, reason: 'conflicting' });
    }
  }
  return reading;
}
