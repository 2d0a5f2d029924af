import { loadConfigOrExit, loadMigrateConfig } from './config.js';
import { closeDatabase, createKnex, ensureDatabase } from './db.js';
import { createLogger } from './logger.js';
import { migrateToLatest } from './migrate.js';
import { guardStartup } from './startup.js';

// `pnpm migrate`: create the database when missing, then apply pending migrations.
const config = loadConfigOrExit(loadMigrateConfig, process.env);
const logger = createLogger({ service: 'migrate', level: config.logLevel, format: config.logFormat, replicaId: config.replicaId });
// A database that cannot be reached is one line (`migrate could not start: connect ECONNREFUSED …`), exit 1.
const startup = guardStartup(logger, 'migrate');
await ensureDatabase(config.databaseUrl);
startup.started();
const knex = createKnex(config.databaseUrl);
try {
  const applied = await migrateToLatest(knex);
  logger.info({ applied }, applied.length ? 'migrations applied' : 'schema already up to date');
} catch (error) {
  logger.error({ err: error }, 'migration failed');
  process.exitCode = 1;
} finally {
  await closeDatabase(knex);
}
