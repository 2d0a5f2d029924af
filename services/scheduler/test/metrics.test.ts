import { insertArchiveRows } from '@dcar/archives/test-fixtures';
import { createMetricsRegistry, createRedisConnection } from '@dcar/platform';
import { createRunQueues, type RunQueues } from '@dcar/runs';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerReconcileMetrics, registerSchedulerMetrics } from '../src/metrics.js';

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

  it('count reconciliation passes and their checked, changed and retried hours, present at zero', async () => {
    const registry = createMetricsRegistry('scheduler');
    const reconcile = registerReconcileMetrics(registry);
    const before = await registry.metrics();
    for (const name of ['passes', 'checked_hours', 'changed_hours', 'retried_hours']) {
      expect(before).toContain(`dcar_reconcile_${name}_total{service="scheduler"} 0`);
    }
    const hour = { tenantId: 'a', utcDay: '2025-12-12', hour: '03' };
    reconcile.record({ checkedHours: 48, changedHours: [hour, { ...hour, hour: '04' }], retriedHours: [hour], runId: 'reconcile-x' });
    reconcile.record({ checkedHours: 48, changedHours: [], retriedHours: [], runId: null });
    const after = await registry.metrics();
    expect(after).toContain('dcar_reconcile_passes_total{service="scheduler"} 2');
    expect(after).toContain('dcar_reconcile_checked_hours_total{service="scheduler"} 96');
    expect(after).toContain('dcar_reconcile_changed_hours_total{service="scheduler"} 2');
    expect(after).toContain('dcar_reconcile_retried_hours_total{service="scheduler"} 1');
  });
});

describe('nightly run metrics', () => {
  it("give when each recent day's nightly run finished (0 while not), and the newest finished day for the 06:00 alert", async () => {
    const registry = createMetricsRegistry('scheduler');
    const now = new Date('2026-03-10T05:00:00Z');
    registerSchedulerMetrics(registry, { queues, db: environment.knex, now: () => now });
    const before = await registry.metrics();
    expect(before).toContain('dcar_nightly_run_finished_timestamp_seconds{utc_day="2026-03-09",service="scheduler"} 0');
    expect(before).toContain('dcar_nightly_run_last_finished_day_timestamp_seconds{service="scheduler"} 0');

    const run = (utcDay: string, state: string, finishedAt: string | null, trigger = 'nightly') => ({
      id: `${trigger}-${utcDay}-${state}`,
      utc_day: utcDay,
      trigger,
      state,
      started_at: '2026-03-01T00:15:00Z',
      finished_at: finishedAt,
    });
    await environment
      .knex('archive_runs')
      .insert([
        run('2026-03-07', 'completed', '2026-03-08T00:41:07Z'),
        run('2026-03-08', 'completed_with_failures', '2026-03-09T01:02:03Z'),
        run('2026-03-09', 'running', null),
        run('2026-03-09', 'completed', '2026-03-10T04:00:00Z', 'manual'),
      ]);
    const text = await registry.metrics();
    expect(text).toContain(
      `dcar_nightly_run_finished_timestamp_seconds{utc_day="2026-03-07",service="scheduler"} ${Date.parse('2026-03-08T00:41:07Z') / 1000}`,
    );
    expect(text).toContain(
      `dcar_nightly_run_finished_timestamp_seconds{utc_day="2026-03-08",service="scheduler"} ${Date.parse('2026-03-09T01:02:03Z') / 1000}`,
    );
    // Yesterday's nightly run is still going (a manual run of the day does not count).
    expect(text).toContain('dcar_nightly_run_finished_timestamp_seconds{utc_day="2026-03-09",service="scheduler"} 0');
    expect(text).toContain('dcar_nightly_run_finished_timestamp_seconds{utc_day="2026-03-02",service="scheduler"} 0');
    expect(text).not.toContain('utc_day="2026-03-10"');
    expect(text).toContain(`dcar_nightly_run_last_finished_day_timestamp_seconds{service="scheduler"} ${Date.parse('2026-03-08T00:00:00Z') / 1000}`);
  });
});
