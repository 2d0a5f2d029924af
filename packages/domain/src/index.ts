export * from './utc-day.js';
export * from './hours.js';
export * from './tenant.js';
export * from './archive.js';
export * from './archive-status.js';
export * from './retention.js';
export * from './errors.js';
export * from './source-path.js';
