export * from './config.js';
export * from './logger.js';
export * from './db.js';
export * from './migrate.js';
export * from './storage.js';
export * from './queues.js';
export * from './secrets.js';
export * from './host.js';
