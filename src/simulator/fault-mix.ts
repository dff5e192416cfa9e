// Random faults at given rates, per provider, for reliability tests and demos: each call draws at
// most one fault. The draw is seeded, so a failing run can be replayed with the same mix.
import type { AnswerLogEntry } from './answer-log.js';
import { seededRandom } from './seeded-random.js';
import type { TencentReply } from './tencent.js';

/**
 * A fault one call can get:
 * - `http`: that status with a plain-text body (a gateway's 502, a 429);
 * - `error`: the provider's error envelope with `code` (Tencent: a number such as 60007, 70001,
 *   70050, 70003, 91000; Volcengine: a string such as 'AccountFlowLimitExceeded', 'InternalError',
 *   'SignatureDoesNotMatch');
 * - `hang`: never answered (the client's timeout ends it);
 * - `truncated`: a good answer cut off half way; `malformed`: an HTML error page with status 200;
 * - `partial` (Tencent): a good answer with `share` of its accounts moved to ErrorList with `code`
 *   (default 70500, a server error). Volcengine has no per-user errors: an absent user is Offline.
 */
export type InjectedFault =
  | { kind: 'http'; status: number }
  | { kind: 'error'; code: number | string }
  | { kind: 'hang' }
  | { kind: 'truncated' }
  | { kind: 'malformed' }
  | { kind: 'partial'; share?: number; code?: number };

/** One fault and the probability that a call gets it. */
export interface FaultRate {
  fault: InjectedFault;
  /** 0..1; the probabilities of a mix add up to at most 1. */
  probability: number;
}

/** Seeded random faults per provider. */
export interface FaultMixOptions {
  tencent?: FaultRate[];
  volcengine?: FaultRate[];
  /** Same seed, same sequence of draws. Default 1. */
  seed?: number;
}

/** Draws faults for calls. */
export class FaultMix {
  /** One sequence per provider, so one provider's draws do not depend on how calls interleave. */
  private readonly randoms: Record<'tencent' | 'volcengine', () => number>;
  private readonly random: () => number;

  constructor(private readonly options: FaultMixOptions) {
    for (const provider of ['tencent', 'volcengine'] as const) {
      const rates = options[provider] ?? [];
      const total = rates.reduce((sum, r) => sum + r.probability, 0);
      if (rates.some((r) => !(r.probability >= 0)) || total > 1 + 1e-9)
        throw new RangeError(`faults.${provider}: probabilities must be ≥ 0 and add up to at most 1`);
      if (provider === 'volcengine' && rates.some((r) => r.fault.kind === 'partial'))
        throw new RangeError(
          'faults.volcengine: partial answers do not exist for Volcengine (an absent user is Offline)',
        );
    }
    const seed = options.seed ?? 1;
    this.randoms = { tencent: seededRandom(seed), volcengine: seededRandom(seed + 1) };
    this.random = seededRandom(seed + 2);
  }

  /** The fault of the next call to `provider`, if any. */
  draw(provider: 'tencent' | 'volcengine'): InjectedFault | undefined {
    const rates = this.options[provider];
    if (!rates || rates.length === 0) return undefined;
    let u = this.randoms[provider]();
    for (const r of rates) {
      if (u < r.probability) return r.fault;
      u -= r.probability;
    }
    return undefined;
  }

  /** A Tencent state answer with a share of its accounts moved to ErrorList (they are not answered). */
  partial(reply: TencentReply, fault: { share?: number; code?: number }): TencentReply {
    const share = fault.share ?? 0.2;
    const code = fault.code ?? 70500;
    const results = Array.isArray(reply.body['QueryResult'])
      ? (reply.body['QueryResult'] as Array<{ To_Account: string }>)
      : [];
    const failed = new Set(results.filter(() => this.random() < share).map((r) => r.To_Account));
    if (failed.size === 0) return reply;
    const errors = [
      ...((reply.body['ErrorList'] as unknown[] | undefined) ?? []),
      ...[...failed].map((u) => ({ To_Account: u, ErrorCode: code })),
    ];
    const answers = reply.answers.map((a): AnswerLogEntry =>
      failed.has(a.userId) && a.state !== undefined
        ? { atMs: a.atMs, appId: a.appId, api: a.api, userId: a.userId, errorCode: code }
        : a,
    );
    return {
      body: { ...reply.body, QueryResult: results.filter((r) => !failed.has(r.To_Account)), ErrorList: errors },
      answers,
    };
  }
}

/**
 * Parses `--faults`: comma-separated `kind[:arg]=probability`, e.g.
 * `http:502=0.05,error:91000=0.03,error:60007=0.02,hang=0.01,truncated=0.01,malformed=0.01,partial=0.02`.
 * Throws RangeError naming the entry that is wrong.
 */
export function parseFaultSpec(spec: string): FaultRate[] {
  return spec
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const match = /^(http|error|hang|truncated|malformed|partial)(?::([^=]+))?=([0-9.]+)$/.exec(entry);
      const probability = Number(match?.[3]);
      if (!match || !(probability >= 0 && probability <= 1))
        throw new RangeError(`fault "${entry}" must be kind[:arg]=probability with a probability from 0 to 1`);
      const [, kind, arg] = match;
      if (kind === 'http') {
        const status = Number(arg);
        if (!Number.isInteger(status) || status < 400 || status > 599)
          throw new RangeError(`fault "${entry}": http needs a status from 400 to 599, e.g. http:502`);
        return { fault: { kind, status }, probability };
      }
      if (kind === 'error') {
        if (arg === undefined)
          throw new RangeError(
            `fault "${entry}": error needs a code, e.g. error:91000 or error:AccountFlowLimitExceeded`,
          );
        return { fault: { kind, code: /^\d+$/.test(arg) ? Number(arg) : arg }, probability };
      }
      if (kind === 'partial') return { fault: arg === undefined ? { kind } : { kind, code: Number(arg) }, probability };
      return { fault: { kind: kind as 'hang' | 'truncated' | 'malformed' }, probability };
    });
}
