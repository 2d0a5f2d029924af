import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from '@dcar/platform';
import type { SlidingWindow, SlidingWindowResult } from '../sliding-window.js';

/** Failed attempts one identity may make from one address within the window (CONTRACT: 20 in 5 minutes). */
export const FAILED_ATTEMPTS_ALLOWED = 20;
export const FAILED_ATTEMPTS_WINDOW_MS = 5 * 60_000;

/** Answered as `429 {"error":"too_many_requests"}` with `Retry-After`. */
export class TooManyAttemptsError extends Error {
  readonly statusCode = 429;
  constructor(readonly retryAfterSeconds: number) {
    super('too_many_requests');
    this.name = 'TooManyAttemptsError';
  }
}

export type GuessedSecret = 'token' | 'bull-board';

export interface GuessThrottle {
  /**
   * Runs `check` (null: the credentials were wrong) unless `identity` already failed
   * FAILED_ATTEMPTS_ALLOWED times from `address` within the window: then it throws
   * TooManyAttemptsError, right credentials or not. Only a null answer counts as a failure; a
   * check that throws (the database is down, say) does not. Without Redis the check still runs,
   * uncounted: tokens keep being issued while Redis is away.
   */
  verify<T>(secret: GuessedSecret, identity: string, address: string, check: () => Promise<T | null> | T | null): Promise<T | null>;
}

/**
 * Makes guessing secrets slow: failures are counted per (client id or user name, address) in a
 * sliding window in Redis, shared by every replica. An attempt is counted before its check runs
 * and uncounted when it succeeds, so concurrent guesses cannot slip past the limit.
 */
export function createGuessThrottle(window: SlidingWindow, namespace: string, logger: Logger): GuessThrottle {
  const unavailable = (error: unknown) => logger.error({ err: error }, 'failed-secret counts unavailable in Redis: checking without counting');
  return {
    async verify(secret, identity, address, check) {
      // Hashed: ids are caller-chosen text of any length; the key stays short and printable.
      const key = `${namespace}${secret}:${createHash('sha256').update(identity, 'utf8').digest('hex').slice(0, 32)}:${address}`;
      const member = randomUUID();
      let attempt: SlidingWindowResult;
      try {
        attempt = await window.take(key, { windowMs: FAILED_ATTEMPTS_WINDOW_MS, max: FAILED_ATTEMPTS_ALLOWED, member });
      } catch (error) {
        unavailable(error);
        return check();
      }
      if (!attempt.taken) throw new TooManyAttemptsError(Math.max(1, Math.ceil(attempt.waitMs / 1000)));
      let failed = false;
      try {
        const result = await check();
        failed = result === null;
        return result;
      } finally {
        if (!failed) await window.release(key, member).catch(unavailable);
      }
    },
  };
}
