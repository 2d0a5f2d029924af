import { createMetricsRegistry } from '@dcar/platform';
import { describe, expect, it } from 'vitest';
import { createApiMetrics, dailyRecordingOutcome } from '../src/metrics.js';

describe('API metrics', () => {
  it('have every outcome of the daily endpoint at 0 before the first request', async () => {
    const registry = createMetricsRegistry('api');
    createApiMetrics(registry);
    const text = await registry.metrics();
    for (const status of [200, 400, 401, 403, 404, 429, 500]) {
      expect(text).toContain(`dcar_daily_recordings_requests_total{outcome="${dailyRecordingOutcome(status)}",service="api"} 0`);
    }
  });
});
