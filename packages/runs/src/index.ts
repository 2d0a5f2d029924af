export { createRunQueues, type RunQueues } from './queues.js';
export type { RunEngineDeps } from './model.js';
export { startRun, nightlyRunId, type StartRunInput } from './start-run.js';
export { getRunReport, type RunReport } from './report.js';
export { upsertSchedules, processNightly, expireArchives, type RetentionDeps } from './maintenance.js';
export { processArchiveRunJob, processMaintenanceJob } from './processors.js';
