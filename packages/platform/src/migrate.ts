import type { Knex } from 'knex';
import * as initial from './migrations/001_initial.js';
import * as runEngine from './migrations/002_run_engine.js';
import * as webhooks from './migrations/006_webhooks.js';
import * as archiveLeases from './migrations/007_archive_leases.js';
import * as downloadLinks from './migrations/008_download_links.js';
import * as reconciliation from './migrations/009_reconciliation.js';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** Migrations in order; compiled into the code so tsx, vitest and a bundled image load them the same way. */
const MIGRATIONS: ReadonlyArray<readonly [string, Migration]> = [
  ['001_initial', initial],
  ['002_run_engine', runEngine],
  // 003-005 are reserved for work landing in parallel; knex applies whatever is missing, in this order.
  ['006_webhooks', webhooks],
  ['007_archive_leases', archiveLeases],
  ['008_download_links', downloadLinks],
  ['009_reconciliation', reconciliation],
];

/** Names of every migration, oldest first. */
export const MIGRATION_NAMES: readonly string[] = MIGRATIONS.map(([name]) => name);

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: () => Promise.resolve([...MIGRATION_NAMES]),
  getMigrationName: (name) => name,
  getMigration: (name) => {
    const found = MIGRATIONS.find(([n]) => n === name);
    if (!found) return Promise.reject(new Error(`unknown migration ${name}`));
    return Promise.resolve(found[1]);
  },
};

// Any fixed 64-bit number shared by every process that migrates this database.
const MIGRATION_ADVISORY_LOCK = 7_302_114_921;

/**
 * Brings the schema up to date. Several processes may call it at once: a PostgreSQL advisory lock
 * lets one migrate while the others wait, then find nothing left to do (knex's own lock table
 * would make them fail instead).
 */
export async function migrateToLatest(knex: Knex): Promise<string[]> {
  return knex.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [MIGRATION_ADVISORY_LOCK]);
    const [, applied] = (await knex.migrate.latest({ migrationSource, disableTransactions: false })) as [number, string[]];
    return applied;
  });
}
