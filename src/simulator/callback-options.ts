// `presence simulate --callback-url ...`: the options that make the simulator push signed
// State.StateChange callbacks to a receiver, kept apart from command.ts so the command only wires
// them in.
import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { parseUserIds } from '../input/user-ids.js';
import { startCallbackSender, type CallbackSender } from './callback-sender.js';
import type { PresenceWorld } from './world.js';

/** The options of `presence simulate` that configure callbacks (their help is in commands/simulate.ts). */
export const CALLBACK_OPTIONS = [
  'callback-url',
  'callback-app',
  'callback-users',
  'callback-duplicates',
  'callback-reorder',
  'callback-bad-sign',
] as const;

function share(raw: string | undefined, name: string): number {
  if (raw === undefined) return 0;
  const n = Number(raw);
  if (raw.trim() === '' || !(n >= 0 && n <= 1))
    throw new InputError(`--${name} must be a share between 0 and 1, got "${raw}"`);
  return n;
}

/** Starts the callback sender the options ask for (undefined without --callback-url). Throws InputError naming the option. */
export async function startCallbacksFromOptions(
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
  world: PresenceWorld,
): Promise<CallbackSender | undefined> {
  const get = (name: (typeof CALLBACK_OPTIONS)[number]): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const url = get('callback-url');
  const others = CALLBACK_OPTIONS.filter((k) => k !== 'callback-url' && get(k) !== undefined);
  if (url === undefined) {
    if (others.length > 0) throw new InputError(`--${others[0]} needs --callback-url`);
    return undefined;
  }
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new InputError(
      `--callback-url must be an http(s) URL such as http://127.0.0.1:8080/tim/callback, got "${url}"`,
    );
  }
  const token = env['TIM_CALLBACK_TOKEN'];
  if (!token)
    throw new InputError('Set TIM_CALLBACK_TOKEN to the token the receiver checks (--callback-url signs with it)');
  const appId = get('callback-app');
  if (appId === undefined || !/^[1-9]\d{0,17}$/.test(appId))
    throw new InputError('--callback-app must be the SdkAppid of the watched users');
  const file = get('callback-users');
  if (file === undefined) throw new InputError('--callback-users must name a file of user IDs, one per line');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new InputError(`--callback-users: cannot read ${file}`, { cause });
  }
  const userIds = parseUserIds(text, 'tencent', file);
  return startCallbackSender({
    world,
    appId,
    userIds,
    url,
    token,
    duplicateRate: share(get('callback-duplicates'), 'callback-duplicates'),
    reorderRate: share(get('callback-reorder'), 'callback-reorder'),
    badSignatureRate: share(get('callback-bad-sign'), 'callback-bad-sign'),
  });
}
