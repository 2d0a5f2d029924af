export { createRunQueues, type RunQueues } from './queues.js';
export { RunRequestError } from './errors.js';
export {
  MAX_ROUNDS,
  type RunEngineDeps,
  type RunState,
  type RunTrigger,
  type ArchiveStatus,
  type StatusCounts,
  type RoundRecord,
} from './model.js';
export { startRun, nightlyRunId, type StartRunInput } from './start-run.js';
export { getRunReport, type RunReport, type RunHourReport } from './report.js';
export { processEnqueueRound, processRoundComplete, parseArchiveHourJobId } from './rounds.js';
export {
  upsertSchedules,
  scheduledAt,
  processNightly,
  expireArchives,
  processRetention,
  NIGHTLY_SCHEDULER_ID,
  RETENTION_SCHEDULER_ID,
  RETENTION_CRON,
  type RetentionDeps,
} from './maintenance.js';
export { processArchiveRunJob, processMaintenanceJob } from './processors.js';
