import { Counter, type Registry } from 'prom-client';

/** Final outcome of a delivery: its event reached the receiver, every attempt failed, or the webhook was disabled or deleted first. */
export const DELIVERY_OUTCOMES = ['delivered', 'failed', 'cancelled'] as const;
export type DeliveryOutcome = (typeof DELIVERY_OUTCOMES)[number];

/** What one HTTP attempt came to. */
export const ATTEMPT_RESULTS = ['success', 'http_error', 'redirect', 'timeout', 'refused', 'network_error'] as const;
export type AttemptResult = (typeof ATTEMPT_RESULTS)[number];

export interface WebhookMetrics {
  deliveries: Counter<'outcome'>;
  attempts: Counter<'result'>;
}

/** The delivery consumer's series on the hosting service's registry, every label present at zero from the start. */
export function createWebhookMetrics(registry: Registry): WebhookMetrics {
  const deliveries = new Counter({
    name: 'dcar_webhook_deliveries_total',
    help: 'Webhook deliveries finished, by outcome (delivered, failed after every retry, cancelled)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'dcar_webhook_delivery_attempts_total',
    help: 'Webhook POST attempts, by result (success, http_error, redirect, timeout, refused, network_error)',
    labelNames: ['result'],
    registers: [registry],
  });
  for (const outcome of DELIVERY_OUTCOMES) deliveries.inc({ outcome }, 0);
  for (const result of ATTEMPT_RESULTS) attempts.inc({ result }, 0);
  return { deliveries, attempts };
}
