/**
 * When a failed delivery is tried again: exponential backoff, 15 s after the first failure, three
 * times longer after each further one, at most 4 hours apart, with up to +10% jitter so receivers
 * coming back from an outage are not hit by every delivery at the same second.
 */
export const WEBHOOK_RETRY_SCHEDULE = {
  firstDelayMs: 15_000,
  factor: 3,
  maxDelayMs: 4 * 3_600_000,
  jitter: 0.1,
  /** 1 attempt + 12 retries: 24.5 hours from the first attempt to the last, before jitter. */
  attempts: 13,
} as const;

/** The delay before the next attempt after `failedAttempts` failures (1 for the first failure). `random` is in [0, 1). */
export function webhookRetryDelayMs(failedAttempts: number, random: () => number = Math.random): number {
  const { firstDelayMs, factor, maxDelayMs, jitter } = WEBHOOK_RETRY_SCHEDULE;
  const exponent = Math.max(0, failedAttempts - 1);
  const base = Math.min(firstDelayMs * factor ** exponent, maxDelayMs);
  return Math.round(base * (1 + jitter * random()));
}

/** Time from the first attempt to the last when every attempt fails, attempts themselves not counted. */
export function webhookRetryWindowMs(attempts: number, random: () => number = () => 0): number {
  let total = 0;
  for (let failed = 1; failed < attempts; failed++) total += webhookRetryDelayMs(failed, random);
  return total;
}
