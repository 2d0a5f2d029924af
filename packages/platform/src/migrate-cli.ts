import { loadConfigOrExit, loadMigrateConfig } from './config.js';
import { createKnex, ensureDatabase } from './db.js';
import { createLogger } from './logger.js';
import { migrateToLatest } from './migrate.js';

// `pnpm migrate`: create the database when missing, then apply pending migrations.
const config = loadConfigOrExit(loadMigrateConfig, process.env);
const logger = createLogger({ service: 'migrate', level: config.logLevel });
await ensureDatabase(config.databaseUrl);
const knex = createKnex(config.databaseUrl);
try {
  const applied = await migrateToLatest(knex);
  logger.info({ applied }, applied.length ? 'migrations applied' : 'schema already up to date');
} catch (error) {
  logger.error({ err: error }, 'migration failed');
  process.exitCode = 1;
} finally {
  await knex.destroy();
}
