import { createMetricsRegistry } from '@dcar/platform';
import { describe, expect, it } from 'vitest';
import { FILE_STATUSES, JOB_OUTCOMES, createWorkerMetrics } from '../src/metrics.js';

describe('worker metrics', () => {
  it('have every labelled series at 0 before the first job', async () => {
    const registry = createMetricsRegistry('worker');
    createWorkerMetrics(registry);
    const text = await registry.metrics();
    for (const outcome of JOB_OUTCOMES) {
      expect(text).toContain(`dcar_worker_jobs_total{outcome="${outcome}",service="worker"} 0`);
      expect(text).toContain(`dcar_worker_job_seconds_count{service="worker",outcome="${outcome}"} 0`);
    }
    for (const status of FILE_STATUSES) expect(text).toContain(`dcar_worker_files_total{status="${status}",service="worker"} 0`);
  });
});
