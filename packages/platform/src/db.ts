import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

export type { Knex } from 'knex';

// DATE columns stay 'YYYY-MM-DD' strings: turning them into local-time Dates shifts UTC days.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);
// BIGINT counts and sizes fit in a double (2^53 bytes is 8 PiB): numbers are what callers want.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** Connecting to PostgreSQL, start-up and authentication included, fails after this long. */
const CONNECT_TIMEOUT_MS = 10_000;

export function createKnex(databaseUrl: string, pool: { min?: number; max?: number } = {}): Knex {
  return knexFactory({
    client: 'pg',
    // A server that accepts the connection and never answers fails the attempt instead of holding it open.
    connection: { connectionString: databaseUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS },
    pool: { min: pool.min ?? 0, max: pool.max ?? 10 },
    acquireConnectionTimeout: CONNECT_TIMEOUT_MS,
  });
}

/**
 * Closes the pool at shutdown, waiting at most `timeoutMs`: knex's destroy() waits for every query in
 * flight, and a query sent to a PostgreSQL that stopped answering never ends, which kept a SIGTERM
 * waiting for the whole shutdown budget. What is still in flight then is cut by the process's exit.
 */
export async function closeDatabase(db: Knex, timeoutMs = 3000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    db.destroy(),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
}

/** Creates the database named in `databaseUrl` when it does not exist yet (development and tests). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const target = new URL(databaseUrl);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(name)) throw new Error(`database name ${JSON.stringify(name)} is not a plain identifier`);
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount === 0) {
      await client.query(`create database "${name}"`).catch((error: { code?: string }) => {
        // Another process created it between our check and our create: that is what we wanted.
        if (error.code !== '42P04' && error.code !== '23505') throw error;
      });
    }
  } finally {
    await client.end();
  }
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const target = new URL(databaseUrl);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await client.end();
  }
}
