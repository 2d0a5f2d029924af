export * from './hour-archive.js';
export * from './run-hours.js';
export * from './day-archives.js';
export * from './retention.js';
export * from './status-metrics.js';
export * from './source-files.js';
export * from './reconciliation.js';
export * from './hour-lease.js';
