import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireHourLease, releaseHourLease, renewHourLease, type HourKey } from '@dcar/archives';
import type { Knex, Logger } from '@dcar/platform';

export interface HourLeaseOptions {
  /** A lease not renewed for this long is free for another worker (its holder died). */
  ttlMs: number;
  /** How often a running job renews its lease; well under `ttlMs`. */
  renewEveryMs: number;
  /** How often a job waiting for a held lease tries again. */
  pollMs: number;
}

/**
 * A live job renews every 5 s; a worker killed with SIGKILL frees its hours within 20 s, before
 * BullMQ's stalled-job recovery (lock 15 s + check every 10 s) hands the job to another worker, so
 * the replacement does not wait. A database outage longer than 15 s stops the job (lease lost).
 */
export const DEFAULT_HOUR_LEASE: HourLeaseOptions = { ttlMs: 20_000, renewEveryMs: 5000, pollMs: 1000 };

export class HourLeaseLostError extends Error {
  override name = 'HourLeaseLostError';
}

export interface HeldHourLease {
  holder: string;
  /** Aborts when the lease is lost (not renewed in time, or taken over): the job must stop. */
  signal: AbortSignal;
  release(): Promise<void>;
}

/**
 * Takes the tenant-hour's lease, waiting while another job holds it (until it ends or its lease
 * expires), then renews it in the background until `release()`. No connection is held between
 * statements: each acquire, renewal and release is one short query.
 */
export async function holdHourLease(
  db: Knex,
  key: HourKey,
  options: HourLeaseOptions & { jobId: string; logger: Logger; signal: AbortSignal },
): Promise<HeldHourLease> {
  const holder = `${options.jobId}:${randomUUID()}`;
  let waited = false;
  while (!(await acquireHourLease(db, key, holder, options.ttlMs))) {
    if (!waited) options.logger.info('another job is generating this hour; waiting for its lease');
    waited = true;
    await sleep(options.pollMs, undefined, { signal: options.signal });
  }
  if (waited) options.logger.info('took over the hour’s lease');

  const lost = new AbortController();
  let lastRenewed = Date.now();
  let renewing: Promise<void> = Promise.resolve();
  const renew = async () => {
    try {
      if (await renewHourLease(db, key, holder, options.ttlMs)) {
        lastRenewed = Date.now();
        return;
      }
      lost.abort(new HourLeaseLostError('the hour’s lease was lost to another job'));
    } catch (error) {
      // A database blip: try again at the next tick, unless the lease may expire before it.
      options.logger.warn({ err: (error as Error).message }, 'could not renew the hour’s lease');
      if (Date.now() - lastRenewed + options.renewEveryMs >= options.ttlMs) {
        lost.abort(new HourLeaseLostError('the hour’s lease could not be renewed in time'));
      }
    }
  };
  const timer = setInterval(() => {
    renewing = renewing.then(renew);
  }, options.renewEveryMs);
  lost.signal.addEventListener('abort', () => clearInterval(timer), { once: true });

  return {
    holder,
    signal: lost.signal,
    release: async () => {
      clearInterval(timer);
      await renewing;
      await releaseHourLease(db, key, holder);
    },
  };
}
