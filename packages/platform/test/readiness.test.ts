import { TEST_REDIS_URL } from '@dcar/testing';
import { startTcpGate } from '@dcar/testing/tcp-gate';
import type { Knex } from 'knex';
import { describe, expect, it } from 'vitest';
import { checkReadiness, createRedisConnection, dependencyChecks } from '../src/index.js';

// Only the Redis probe is exercised: PostgreSQL's is a plain `select 1`.
const noDatabase = {} as Knex;

describe('the Redis readiness probe', () => {
  it('counts a connection still being made at start as ready once it connects, not as down', async () => {
    for (const role of ['producer', 'consumer'] as const) {
      const redis = createRedisConnection(TEST_REDIS_URL, role);
      try {
        // Asked at once, as a health check may right after the process started.
        expect(redis.status).toBe('connecting');
        const { redis: probe } = dependencyChecks({ db: noDatabase, redis });
        expect(await checkReadiness({ redis: probe }, { timeoutMs: 5000 })).toEqual({ ready: true, body: { status: 'ready', checks: { redis: 'ok' } } });
      } finally {
        redis.disconnect();
      }
    }
  });

  it('still reports a Redis that never answers as unavailable, within the probe’s bound', async () => {
    const redisUrl = new URL(TEST_REDIS_URL);
    const gate = await startTcpGate({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) }, { whileClosed: 'hang' });
    const redis = createRedisConnection(`redis://127.0.0.1:${gate.port}`, 'producer');
    redis.on('error', () => undefined);
    try {
      const { redis: probe } = dependencyChecks({ db: noDatabase, redis });
      expect(await checkReadiness({ redis: probe }, { timeoutMs: 1000 })).toEqual({
        ready: false,
        body: { status: 'unavailable', checks: { redis: 'unavailable' } },
      });
    } finally {
      redis.disconnect();
      await gate.close();
    }
  });
});
