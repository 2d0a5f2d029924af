import { randomUUID } from 'node:crypto';
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';

/**
 * One atomic step of a sliding-window counter kept in a Redis sorted set (one member per counted
 * event, scored by its time in ms): drop what left the window, then count the event only if fewer
 * than `max` remain. Time is Redis' own (TIME), the same for every replica, unless the caller
 * passes one (tests). Returns {taken, count, waitMs}: when taken, `count` includes the event and
 * `waitMs` is how long until the oldest counted event leaves the window; when refused, `waitMs` is
 * how long until an event would be taken.
 */
const TAKE_SCRIPT = `
local key = KEYS[1]
local window = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local member = ARGV[3]
local now = tonumber(ARGV[4])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < max then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window)
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {1, count + 1, tonumber(oldest[2]) + window - now}
end
local blocking = redis.call('ZRANGE', key, count - max, count - max, 'WITHSCORES')
return {0, count, tonumber(blocking[2]) + window - now}
`;

const COMMAND = 'dcarSlidingWindowTake';

type TakeCommand = (key: string, windowMs: number, max: number, member: string, now: string) => Promise<[number, number, number]>;

export interface SlidingWindowResult {
  taken: boolean;
  /** Events counted in the window, this one included when taken. */
  count: number;
  /** Taken: ms until the oldest counted event leaves the window. Refused: ms until an event would be taken. */
  waitMs: number;
}

export interface SlidingWindow {
  /** Counts `member` under `key` if fewer than `max` events happened in the last `windowMs`. */
  take(key: string, options: { windowMs: number; max: number; member: string }): Promise<SlidingWindowResult>;
  /** Uncounts an event taken earlier (it turned out not to be one that counts). */
  release(key: string, member: string): Promise<void>;
}

/**
 * Sliding-window counters in Redis, shared by every API replica and atomic under concurrency.
 * `clock` (ms since the epoch) replaces Redis' TIME, for tests that move time.
 */
export function createSlidingWindow(redis: Redis, clock?: () => number): SlidingWindow {
  if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: TAKE_SCRIPT });
  const takeCommand = (redis as unknown as Record<typeof COMMAND, TakeCommand>)[COMMAND].bind(redis);
  return {
    async take(key, { windowMs, max, member }) {
      const [taken, count, waitMs] = await takeCommand(key, windowMs, max, member, clock ? String(clock()) : '');
      return { taken: taken === 1, count, waitMs: Math.max(0, waitMs) };
    },
    async release(key, member) {
      await redis.zrem(key, member);
    },
  };
}

/**
 * A store for @fastify/rate-limit that limits over a sliding window instead of the plugin's fixed
 * one (whose expiry the first request sets, so up to twice the limit passed around its end): never
 * more than `max` requests in any `timeWindow`. Only requests that pass are counted. A refused
 * request's `ttl` (the plugin's Retry-After) is the time until a request would pass.
 */
export function slidingWindowStore(window: SlidingWindow, namespace: string): FastifyRateLimitStoreCtor {
  return class SlidingWindowStore implements FastifyRateLimitStore {
    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow: number, max: number): void {
      window.take(`${namespace}${key}`, { windowMs: timeWindow, max, member: randomUUID() }).then(
        // A refusal is reported as one over the limit: the plugin then answers 429.
        (result) => callback(null, { current: result.taken ? result.count : Math.max(result.count, max) + 1, ttl: result.waitMs }),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    }

    child(): FastifyRateLimitStore {
      return this;
    }
  };
}
