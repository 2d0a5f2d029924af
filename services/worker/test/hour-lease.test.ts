import { dirname } from 'node:path';
import { acquireHourLease, renewHourLease, releaseHourLease, type HourKey } from '@dcar/archives';
import { findArchiveRow } from '@dcar/archives/test-fixtures';
import { parseUtcDay } from '@dcar/domain';
import type { ArchiveHourJobData } from '@dcar/platform';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@dcar/testing';
import { seedConversationAudio } from '@dcar/testing/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Transcoder } from '../src/transcoder.js';
import { createTranscoder } from '../src/transcoder.js';
import { archiverFor } from './helpers.js';

const DAY = parseUtcDay('2025-12-12')!;
const TENANT = 'tenant-lease';
const SHORT_LEASE = { ttlMs: 2000, renewEveryMs: 300, pollMs: 100 };

let env: TestEnvironment;

beforeAll(async () => {
  env = await createTestEnvironment();
  await seedConversationAudio({
    knex: env.knex,
    s3: env.s3,
    bucket: env.config.s3.sourceBucket,
    tenantId: TENANT,
    rows: [4, 5, 6, 7].flatMap((hour) =>
      [1, 2].map((messageId) => ({
        externalConversationId: 'conv-a',
        sessionId: 's',
        messageId: hour * 10 + messageId,
        type: 'agent_tts',
        recordedAt: new Date(`${DAY}T0${hour}:10:0${messageId}Z`),
        format: 'wav_pcm' as const,
        seconds: 1,
      })),
    ),
  });
});
afterAll(async () => {
  await env?.close();
});

function job(hour: number, overrides: Partial<ArchiveHourJobData> = {}): ArchiveHourJobData {
  return { runId: 'run-1', tenantId: TENANT, utcDay: DAY, hour, round: 1, force: true, ...overrides };
}
const running = () => ({ signal: new AbortController().signal });

/** A transcoder that notes when each job's work directory is busy, and can be held at a gate. */
function observedTranscoder(gate?: Promise<void>) {
  const real = createTranscoder();
  const spans: Array<{ directory: string; start: number; end: number }> = [];
  let started = 0;
  const transcoder: Transcoder = {
    transcodeBatch: async (items, signal) => {
      started++;
      const start = performance.now();
      // Held at the gate, unless the job is stopped meanwhile (as the real transcoder stops).
      await Promise.race([gate, new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))]);
      const outcome = await real.transcodeBatch(items, signal);
      spans.push({ directory: dirname(items[0]!.outputPath), start, end: performance.now() });
      return outcome;
    },
  };
  return { transcoder, spans, started: () => started };
}

/** Connections of this test's database sitting in an open transaction. */
async function idleInTransaction(): Promise<number> {
  const { rows }: { rows: Array<{ n: number }> } = await env.knex.raw(
    "select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'",
  );
  return rows[0]!.n;
}

describe('the tenant-hour lease', () => {
  it('is taken by one holder at a time, renewed only by its holder, and free once released or expired', async () => {
    const key: HourKey = { tenantId: 'tenant-sql', utcDay: DAY, hour: 1 };
    const takers = await Promise.all(Array.from({ length: 10 }, (_, i) => acquireHourLease(env.knex, key, `h${i}`, 60_000)));
    expect(takers.filter(Boolean)).toHaveLength(1);
    const holder = `h${takers.indexOf(true)}`;
    expect(await renewHourLease(env.knex, key, 'someone-else', 60_000)).toBe(false);
    expect(await renewHourLease(env.knex, key, holder, 60_000)).toBe(true);
    await releaseHourLease(env.knex, key, 'someone-else');
    expect(await acquireHourLease(env.knex, key, 'late', 60_000)).toBe(false);
    await releaseHourLease(env.knex, key, holder);
    expect(await acquireHourLease(env.knex, key, 'late', 1)).toBe(true);
    // `late`'s lease expired after 1 ms: the next taker gets it, and `late` can no longer renew it.
    await waitFor(async () => ((await acquireHourLease(env.knex, key, 'next', 60_000)) ? true : undefined), {
      timeoutMs: 5000,
      what: 'the expired lease to be taken',
    });
    expect(await renewHourLease(env.knex, key, 'late', 60_000)).toBe(false);
  });

  it('keeps no connection idle in a transaction while a job runs', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const observed = observedTranscoder(gate);
    const { archiveTenantHour } = archiverFor(env, { transcoder: observed.transcoder, hourLease: SHORT_LEASE });
    const done = archiveTenantHour(job(4), { jobId: 'job-4', ...running() });
    await waitFor(() => (observed.started() > 0 ? true : undefined), { what: 'the job to reach its transcode' });
    // Sampled through several lease renewals while the job is held mid-way.
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      samples.push(await idleInTransaction());
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    open();
    expect(await done).toMatchObject({ outcome: 'available' });
    expect(Math.max(...samples)).toBe(0);
  });

  it('makes two runs of one hour take turns: their work never overlaps, and both are recorded', async () => {
    const observed = observedTranscoder();
    const { archiveTenantHour } = archiverFor(env, { transcoder: observed.transcoder, hourLease: SHORT_LEASE });
    const before = (await findArchiveRow(env.knex, { tenantId: TENANT, utcDay: DAY, hour: 5 }))?.attempts ?? 0;
    const outcomes = await Promise.all([1, 2, 3].map((i) => archiveTenantHour(job(5, { runId: `run-${i}` }), { jobId: `job-5-${i}`, ...running() })));
    expect(outcomes.map((o) => o.outcome)).toEqual(['available', 'available', 'available']);
    const byJob = new Map<string, { start: number; end: number }>();
    for (const span of observed.spans) {
      const seen = byJob.get(span.directory);
      byJob.set(span.directory, { start: Math.min(seen?.start ?? Infinity, span.start), end: Math.max(seen?.end ?? -Infinity, span.end) });
    }
    const spans = [...byJob.values()].sort((a, b) => a.start - b.start);
    expect(spans).toHaveLength(3);
    for (let i = 1; i < spans.length; i++) expect(spans[i]!.start).toBeGreaterThanOrEqual(spans[i - 1]!.end);
    expect((await findArchiveRow(env.knex, { tenantId: TENANT, utcDay: DAY, hour: 5 }))?.attempts).toBe(before + 3);
    expect(Number((await env.knex('hourly_archive_leases').where({ tenant_id: TENANT }).count('* as n').first())?.n)).toBe(0);
  });

  it('waits for a live holder, and takes over the lease of a holder that died once it expires', async () => {
    const key: HourKey = { tenantId: TENANT, utcDay: DAY, hour: 6 };
    // A holder that stopped renewing (a killed worker): its lease runs out in 1.5 s.
    expect(await acquireHourLease(env.knex, key, 'dead-worker', 1500)).toBe(true);
    const dead: { expires_at: Date } = await env.knex('hourly_archive_leases').where({ tenant_id: TENANT, hour: 6 }).first('expires_at');
    const { archiveTenantHour } = archiverFor(env, { hourLease: SHORT_LEASE });
    expect(await archiveTenantHour(job(6), { jobId: 'job-6', ...running() })).toMatchObject({ outcome: 'available' });
    // Recorded (by the database's clock) only after the dead holder's lease ran out.
    const row = await findArchiveRow(env.knex, key);
    expect(row?.updated_at.getTime()).toBeGreaterThanOrEqual(dead.expires_at.getTime());
  });

  it('stops a job whose lease was taken from it, and records nothing of it as the hour’s result', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const observed = observedTranscoder(gate);
    const { archiveTenantHour } = archiverFor(env, { transcoder: observed.transcoder, hourLease: SHORT_LEASE });
    const done = archiveTenantHour(job(7, { runId: 'run-lost' }), { jobId: 'job-7', ...running() });
    await waitFor(() => (observed.started() > 0 ? true : undefined), { what: 'the job to reach its transcode' });
    // Someone else now holds the hour (as after this job's lease expired unrenewed).
    await env.knex('hourly_archive_leases').where({ tenant_id: TENANT, hour: 7 }).update({ holder: 'another-job' });
    await expect(done).rejects.toMatchObject({ name: 'HourLeaseLostError' });
    open();
    const row = await findArchiveRow(env.knex, { tenantId: TENANT, utcDay: DAY, hour: 7 });
    expect(row?.status).not.toBe('available');
    expect(row?.last_run_id ?? null).not.toBe('run-lost');
  });
});
