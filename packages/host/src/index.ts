export * from './tenants.js';
export * from './applications.js';
export * from './tenant-access.js';
