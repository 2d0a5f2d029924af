import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATION_NAMES, createKnex, dropDatabase, ensureDatabase, migrateToLatest } from '../src/index.js';
import { REPOSITORY_ROOT, sourceCommand, TEST_DATABASE_URL, uniqueName } from '@dcar/testing';
import { startTcpGate } from '@dcar/testing/tcp-gate';

const url = new URL(TEST_DATABASE_URL);
url.pathname = `/${uniqueName('dcar_mig_')}`;
const databaseUrl = url.toString();

afterAll(async () => {
  await dropDatabase(databaseUrl);
});

describe('migrations', () => {
  it('run twice at once and then again, leaving one correct schema', async () => {
    await Promise.all([ensureDatabase(databaseUrl), ensureDatabase(databaseUrl)]);
    const clients = [createKnex(databaseUrl), createKnex(databaseUrl), createKnex(databaseUrl)];
    try {
      const concurrent = await Promise.all([migrateToLatest(clients[0]!), migrateToLatest(clients[1]!)]);
      // Exactly one of the two applied every migration; the other waited and found them done.
      expect(concurrent.map((applied) => applied.length).sort()).toEqual([0, MIGRATION_NAMES.length]);
      expect(await migrateToLatest(clients[2]!)).toEqual([]);

      const db = clients[2]!;
      const { rows: tables } = await db.raw<{ rows: Array<{ table_name: string }> }>(
        `select table_name from information_schema.tables where table_schema = 'public' order by table_name collate "C"`,
      );
      expect(tables.map((t) => t.table_name)).toEqual([
        'access_audit_log',
        'api_clients',
        'archive_run_failures',
        'archive_run_hours',
        'archive_runs',
        'conversation_audio_files',
        'hourly_archive_leases',
        'hourly_archives',
        'knex_migrations',
        'knex_migrations_lock',
        'tenant_feature_settings',
        'tenant_webhooks',
        'tenants',
        'webhook_deliveries',
      ]);
      const { rows: columns } = await db.raw<{ rows: unknown[] }>(
        "select column_name, data_type, is_nullable from information_schema.columns where table_name = 'conversation_audio_files' order by ordinal_position",
      );
      expect(columns).toEqual([
        { column_name: 'id', data_type: 'bigint', is_nullable: 'NO' },
        { column_name: 'tenant_id', data_type: 'text', is_nullable: 'NO' },
        { column_name: 'external_conversation_id', data_type: 'text', is_nullable: 'NO' },
        { column_name: 'session_id', data_type: 'text', is_nullable: 'NO' },
        { column_name: 'message_id', data_type: 'bigint', is_nullable: 'NO' },
        { column_name: 'type', data_type: 'text', is_nullable: 'NO' },
        { column_name: 'storage_path', data_type: 'text', is_nullable: 'NO' },
        { column_name: 'size_bytes', data_type: 'bigint', is_nullable: 'NO' },
        { column_name: 'recorded_at', data_type: 'timestamp with time zone', is_nullable: 'NO' },
      ]);
      const { rows: indexes } = await db.raw<{ rows: Array<{ indexdef: string }> }>(
        "select indexdef from pg_indexes where tablename = 'conversation_audio_files'",
      );
      expect(indexes.map((i) => i.indexdef)).toContainEqual(
        expect.stringMatching(/ON public\.conversation_audio_files USING btree \(tenant_id, recorded_at\)/),
      );
      const { rows: migrations } = await db.raw<{ rows: Array<{ name: string }> }>('select name from knex_migrations');
      expect(migrations.map((m) => m.name)).toEqual([...MIGRATION_NAMES]);
    } finally {
      await Promise.all(clients.map((c) => c.destroy()));
    }
  });

  it('enforces retention 1-7 and one archive row per tenant-day-hour', async () => {
    const db = createKnex(databaseUrl);
    try {
      await db('tenants').insert({ id: 'acme', name: 'Acme' });
      for (const bad of [0, 8]) {
        await expect(db('tenant_feature_settings').insert({ tenant_id: 'acme', retention_days: bad })).rejects.toThrow(
          /tenant_feature_settings_retention_days_check/,
        );
      }
      await db('tenant_feature_settings').insert({ tenant_id: 'acme', retention_days: 7 });
      const row = { tenant_id: 'acme', utc_day: '2025-12-12', hour: 14, status: 'pending' };
      await db('hourly_archives').insert(row);
      await expect(db('hourly_archives').insert(row)).rejects.toThrow(/hourly_archives_tenant_day_hour_key/);
      await expect(db('hourly_archives').insert({ ...row, hour: 24 })).rejects.toThrow(/hourly_archives_hour_check/);
      const stored = await db<{ tenant_id: string; utc_day: string }>('hourly_archives').where({ tenant_id: 'acme' }).first();
      expect(stored?.utc_day).toBe('2025-12-12');
    } finally {
      await db.destroy();
    }
  });
});

describe('a PostgreSQL that accepts connections and never answers', () => {
  it('stops `pnpm migrate` with one line naming the failure, instead of waiting for ever', async () => {
    // Accepted, never answered: as a server that is stuck (or a firewall that swallows the packets) looks.
    const gate = await startTcpGate({ host: '127.0.0.1', port: 5432 }, { whileClosed: 'hang' });
    try {
      const { command, args } = sourceCommand('migrate');
      const child = spawn(command, args, {
        cwd: REPOSITORY_ROOT,
        env: { PATH: process.env.PATH ?? '', LOG_FORMAT: 'json', DATABASE_URL: `postgres://postgres@127.0.0.1:${String(gate.port)}/stuck` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      // Bounded by the test's own timeout: without a connect timeout the process never exits.
      const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
      expect(code, output).toBe(1);
      const lines = output.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'fatal', msg: expect.stringMatching(/^migrate could not start: /) as string });
    } finally {
      await gate.close();
    }
  }, 90_000);
});
