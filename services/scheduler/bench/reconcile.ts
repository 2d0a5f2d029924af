import { loadavg, availableParallelism } from 'node:os';
import { comparisonQuery, compareWithFingerprints, type ReconciliationScope } from '@dcar/archives';
import { insertFingerprintedArchives } from '@dcar/archives/test-fixtures';
import { addUtcDays, utcDayOf } from '@dcar/domain';
import { createLogger, createRedisConnection } from '@dcar/platform';
import { createRunQueues, reconcile } from '@dcar/runs';
import { createTestEnvironment } from '@dcar/testing';

// The reconciliation pass at scale (CONTRACT §3.3): BENCH_TENANTS (default 1,000) enabled tenants
// with 7 days of retention, BENCH_ROWS (default 1,000,000) source rows spread over their 7 past days,
// every hour archived with its fingerprint; then 50 hours change (20 late rows, 15 rows removed, 15
// sizes corrected). Reports how long the pass takes to find them, the comparison's plan and memory.
const tenantCount = Number(process.env.BENCH_TENANTS ?? 1000);
const rowCount = Number(process.env.BENCH_ROWS ?? 1_000_000);
const DAYS = 7;
const CHANGES = { late: 20, removed: 15, resized: 15 };

const env = await createTestEnvironment();
const connection = createRedisConnection(env.config.redis.url, 'consumer');
const queues = createRunQueues(connection, env.redisPrefix);
const deps = { db: env.knex, queues, logger: createLogger({ service: 'bench', level: 'warn' }), now: () => new Date() };
const log = (message: string) => process.stderr.write(`[bench:reconcile] ${message}\n`);

function tenantId(i: number): string {
  return `bench-${String(i).padStart(4, '0')}`;
}

/** Runs `sql` on one pooled connection with $n parameters, as pg does: EXPLAIN needs the statement as sent. */
async function explain(sql: string, bindings: readonly unknown[]): Promise<string[]> {
  const pool = env.knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(connection: unknown): Promise<void> };
  const client = (await pool.acquireConnection()) as {
    query(text: string, values: readonly unknown[]): Promise<{ rows: Array<Record<string, string>> }>;
  };
  try {
    const { rows } = await client.query(`explain (analyze, buffers, format text) ${sql}`, bindings);
    return rows.map((row) => row['QUERY PLAN'] ?? '');
  } finally {
    await pool.releaseConnection(client);
  }
}

try {
  const today = utcDayOf(new Date());
  const firstDay = addUtcDays(today, -DAYS);
  const lastDay = addUtcDays(today, -1);
  for (let start = 0; start < tenantCount; start += 1000) {
    const ids = Array.from({ length: Math.min(1000, tenantCount - start) }, (_, i) => tenantId(start + i));
    await env.knex('tenants').insert(ids.map((id) => ({ id, name: id })));
    await env.knex('tenant_feature_settings').insert(ids.map((id) => ({ tenant_id: id, daily_audio_recordings_enabled: true, retention_days: DAYS })));
  }

  // Rows in the order a platform writes them: all tenants interleaved, hour after hour.
  let seeded = performance.now();
  const hours = DAYS * 24;
  await env.knex.raw(
    `insert into conversation_audio_files (tenant_id, external_conversation_id, session_id, message_id, type, storage_path, size_bytes, recorded_at)
     select t.id, 'conv-' || (i / 6), 'session-' || (i / 6), i, 'agent_tts',
            t.id || '/project/conversations/conv-' || (i / 6) || '/session-' || (i / 6) || '/' || i || '_agent_tts.wav',
            20000 + (i % 50000),
            (?::date)::timestamp at time zone 'UTC' + ((i / ?) % ?) * interval '1 hour' + (i % 3600) * interval '1 second'
       from generate_series(0, ? - 1) as i
       cross join lateral (select 'bench-' || lpad((i % ?)::text, 4, '0') as id) t`,
    [firstDay, tenantCount, hours, rowCount, tenantCount],
  );
  const scope: ReconciliationScope[] = Array.from({ length: tenantCount }, (_, i) => ({ tenantId: tenantId(i), firstDay, lastDay, retentionDays: DAYS }));
  const archived = await insertFingerprintedArchives(env.knex, scope);
  log(`seeded ${rowCount} source rows and ${archived} archived hours in ${((performance.now() - seeded) / 1000).toFixed(1)} s`);

  // 50 changed hours, each in a tenant-hour of its own.
  seeded = performance.now();
  const changed = new Set<string>();
  const pick = (n: number) => {
    const i = (n * 7919) % rowCount;
    return { tenant: tenantId(i % tenantCount), hourOffset: Math.floor(i / tenantCount) % hours, i };
  };
  let n = 1;
  const distinct = () => {
    for (;;) {
      const p = pick(n++);
      const key = `${p.tenant}/${p.hourOffset}`;
      if (!changed.has(key)) {
        changed.add(key);
        return p;
      }
    }
  };
  for (let k = 0; k < CHANGES.late; k++) {
    const p = distinct();
    await env.knex('conversation_audio_files').insert({
      tenant_id: p.tenant,
      external_conversation_id: 'conv-late',
      session_id: 'session-late',
      message_id: rowCount + k,
      type: 'user_audio',
      storage_path: `${p.tenant}/late/${k}.wav`,
      size_bytes: 1234,
      recorded_at: new Date(Date.parse(`${firstDay}T00:00:00Z`) + p.hourOffset * 3_600_000 + 59 * 60_000),
    });
  }
  for (let k = 0; k < CHANGES.removed + CHANGES.resized; k++) {
    const p = distinct();
    const window = [
      new Date(Date.parse(`${firstDay}T00:00:00Z`) + p.hourOffset * 3_600_000),
      new Date(Date.parse(`${firstDay}T00:00:00Z`) + (p.hourOffset + 1) * 3_600_000),
    ];
    const [row]: Array<{ id: number }> = await env
      .knex('conversation_audio_files')
      .where('tenant_id', p.tenant)
      .where('recorded_at', '>=', window[0]!)
      .where('recorded_at', '<', window[1]!)
      .orderBy('id')
      .limit(1)
      .select('id');
    if (k < CHANGES.removed) await env.knex('conversation_audio_files').where({ id: row!.id }).delete();
    else await env.knex('conversation_audio_files').where({ id: row!.id }).update({ size_bytes: 999_999 });
  }
  // BENCH_COVERING_INDEX=1: the source index also carries what a fingerprint reads, so the pass
  // scans the index only and never visits the table's pages.
  const coveringIndex = process.env.BENCH_COVERING_INDEX === '1';
  if (coveringIndex) {
    await env.knex.raw(
      'create index conversation_audio_files_fingerprint_idx on conversation_audio_files (tenant_id, recorded_at) include (id, size_bytes, storage_path)',
    );
  }
  // What autovacuum does on a live database: statistics and the visibility map are current.
  await env.knex.raw('vacuum analyze conversation_audio_files');
  await env.knex.raw('vacuum analyze hourly_archives');
  log(`changed ${changed.size} hours and vacuumed in ${((performance.now() - seeded) / 1000).toFixed(1)} s`);

  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 20);

  // The comparison alone, three times (the first with a cold cache of this process's statements).
  const comparisonSeconds: number[] = [];
  let found = 0;
  let checked = 0;
  for (let run = 0; run < 3; run++) {
    const started = performance.now();
    const comparison = await compareWithFingerprints(env.knex, scope, new Date());
    comparisonSeconds.push(Number(((performance.now() - started) / 1000).toFixed(2)));
    found = comparison.candidates.length;
    checked = comparison.checkedHours;
  }

  // The whole pass as the scheduler runs it: tenants and retention read, compared, its run recorded and queued.
  const passStarted = performance.now();
  const cpuStart = process.cpuUsage();
  const pass = await reconcile(deps, { trigger: 'manual' });
  const passSeconds = (performance.now() - passStarted) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  clearInterval(sampler);

  const { sql, bindings } = comparisonQuery(env.knex, scope, new Date()).toSQL().toNative();
  const plan = await explain(sql, bindings);
  const planText = plan.join('\n');
  const sourceScans = plan.filter((line) => /conversation_audio_files/.test(line)).map((line) => line.trim());
  const memory = [...planText.matchAll(/Memory(?: Usage)?: (\d+)kB/g)].map((m) => Number(m[1]));

  const figures = {
    tenants: tenantCount,
    days: DAYS,
    coveringIndex,
    sourceRows: rowCount,
    archivedHours: archived,
    changedHoursSeeded: changed.size,
    checkedHours: checked,
    changedHoursFound: found,
    passFoundAll:
      pass.changedHours.length === changed.size &&
      [...pass.changedHours].every((h) =>
        changed.has(`${h.tenantId}/${(Date.parse(`${h.utcDay}T00:00:00Z`) - Date.parse(`${firstDay}T00:00:00Z`)) / 3_600_000 + Number(h.hour)}`),
      ),
    comparisonSeconds,
    passSeconds: Number(passSeconds.toFixed(2)),
    passCpuSecondsInNode: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
    nodePeakRssMiB: Math.round(peakRss / 2 ** 20),
    postgresLargestPlanNodeMemoryKiB: memory.length > 0 ? Math.max(...memory) : 0,
    sequentialScanOfSource: /Seq Scan on conversation_audio_files/.test(planText),
    sourceScans,
    runId: pass.runId,
    // The machine is shared: a load above its cores stretches every figure above.
    loadAverage1m: Number(loadavg()[0]!.toFixed(1)),
    cores: availableParallelism(),
  };
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n\nEXPLAIN (ANALYZE, BUFFERS) of the comparison:\n${planText}\n`);
  if (figures.sequentialScanOfSource || !figures.passFoundAll) process.exitCode = 1;
} finally {
  await queues.close();
  connection.disconnect();
  await env.close();
}
