import { insertArchiveRows } from '@dcar/archives/test-fixtures';
import { createMetricsRegistry, createRedisConnection } from '@dcar/platform';
import { createRunQueues, type RunQueues } from '@dcar/runs';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSchedulerMetrics } from '../src/metrics.js';

let environment: TestEnvironment;
let connection: Redis;
let queues: RunQueues;

beforeAll(async () => {
  environment = await createTestEnvironment();
  connection = createRedisConnection(environment.config.redis.url, 'producer');
  queues = createRunQueues(connection, environment.config.redis.prefix);
});
afterAll(async () => {
  await queues.close();
  connection.disconnect();
  await environment.close();
});

describe('scheduler metrics', () => {
  it('report queue depth from Redis and recent tenant-hours by status from PostgreSQL', async () => {
    await queues.archiveHour.addBulk([1, 2, 3].map((n) => ({ name: 'archive-hour', data: { n }, opts: { jobId: `m-${n}` } })));
    await queues.maintenance.add('retention', {}, { jobId: 'm-delayed', delay: 60_000 });
    const today = new Date().toISOString().slice(0, 10);
    await insertArchiveRows(environment.knex, [
      { tenant_id: 'a', utc_day: today, hour: 1, status: 'failed' },
      { tenant_id: 'a', utc_day: today, hour: 2, status: 'available' },
      { tenant_id: 'a', utc_day: today, hour: 3, status: 'available' },
      { tenant_id: 'a', utc_day: '2000-01-01', hour: 3, status: 'failed' },
    ]);
    const registry = createMetricsRegistry('scheduler');
    registerSchedulerMetrics(registry, { queues, db: environment.knex });
    const text = await registry.metrics();
    expect(text).toContain('dcar_queue_jobs{queue="archive-hour",state="waiting",service="scheduler"} 3');
    expect(text).toContain('dcar_queue_jobs{queue="maintenance",state="delayed",service="scheduler"} 1');
    expect(text).toContain('dcar_queue_jobs{queue="archive-run",state="waiting",service="scheduler"} 0');
    expect(text).toContain('dcar_archive_hours{status="failed",service="scheduler"} 1');
    expect(text).toContain('dcar_archive_hours{status="available",service="scheduler"} 2');
  });
});
