export { createSecretBox, generateWebhookSecret, type SecretBox } from './secrets.js';
export {
  DestinationRefusedError,
  checkDestination,
  type DestinationCheck,
  createGuardedLookup,
  isPublicAddress,
  parseWebhookUrl,
  systemResolveHost,
  type DestinationPolicy,
  type ResolveHost,
} from './destination.js';
export { WEBHOOK_RETRY_SCHEDULE, webhookRetryDelayMs, webhookRetryWindowMs } from './retry-schedule.js';
export { createWebhookMetrics, DELIVERY_OUTCOMES, ATTEMPT_RESULTS, type WebhookMetrics, type DeliveryOutcome, type AttemptResult } from './metrics.js';
export { createWebhookDeliveryQueue, WEBHOOK_DELIVERY_JOB_OPTIONS, WEBHOOK_BACKOFF_TYPE, type WebhookDeliveryQueue } from './queue.js';
export {
  WebhookEventTypes,
  dayCompletedKey,
  hourRegeneratedKey,
  emitWebhookEvent,
  emitWebhookEvents,
  emitDaysCompleted,
  emitHourRegenerated,
  requeuePendingDeliveries,
  type WebhookEventType,
  type WebhookEvent,
  type WebhookEmitDeps,
  type DayCompletedData,
  type HourRegeneratedData,
} from './events.js';
export {
  putWebhook,
  getWebhook,
  deleteWebhook,
  rotateWebhookSecret,
  listWebhookDeliveries,
  urlOrigin,
  type WebhookRegistrationDeps,
  type WebhookView,
  type WebhookWithSecret,
} from './registration.js';
export { DELIVERY_LOG_LIMIT, type DeliveryView, type DeliveryState } from './deliveries.js';
export {
  processWebhookDelivery,
  startWebhookDeliveryWorker,
  DeliveryAttemptError,
  WEBHOOK_TIMEOUT_MS,
  type WebhookDeliveryDeps,
  type WebhookDeliveryWorker,
  type WebhookDeliveryWorkerOptions,
  type DeliveryJobResult,
} from './delivery.js';
export { createPostAgents, type PostAgents } from './http-post.js';
