import { parseUtcDay } from '@dcar/domain';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@dcar/testing';
import { seedConversationAudio } from '@dcar/testing/seed';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTranscoder, type Transcoder } from '../src/transcoder.js';
import { archiverFor } from './helpers.js';

const DAY = parseUtcDay('2025-12-12')!;
/**
 * Connections `idle in transaction` while two tenant-hour jobs are held mid-way (issue 10 item 8).
 * Held 3 s here; `HOLD_MS=60000 pnpm exec vitest run services/worker/test/idle-in-transaction.test.ts`
 * prints the figure over a minute (before the lease: one per running job, as old as the job).
 */
const HOLD_MS = Number(process.env.HOLD_MS ?? 3000);
let env: TestEnvironment;
beforeAll(async () => {
  env = await createTestEnvironment();
});
afterAll(async () => env?.close());

it('holds no connection idle in a transaction while jobs run', async () => {
  const jobs = 2;
  for (let hour = 0; hour < jobs; hour++) {
    await seedConversationAudio({
      knex: env.knex,
      s3: env.s3,
      bucket: env.config.s3.sourceBucket,
      tenantId: 't',
      rows: [
        {
          externalConversationId: 'c',
          sessionId: 's',
          messageId: hour + 1,
          type: 'agent_tts',
          recordedAt: new Date(`${DAY}T0${hour}:10:00Z`),
          format: 'wav_pcm',
          seconds: 1,
        },
      ],
    });
  }
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let started = 0;
  const real = createTranscoder();
  const transcoder: Transcoder = {
    transcodeBatch: async (items, signal) => {
      started++;
      await gate;
      return real.transcodeBatch(items, signal);
    },
  };
  const { archiveTenantHour } = archiverFor(env, { transcoder });
  const done = Array.from({ length: jobs }, (_, hour) =>
    archiveTenantHour({ runId: 'r', tenantId: 't', utcDay: DAY, hour, round: 1, force: true }, { jobId: `j${hour}`, signal: new AbortController().signal }),
  );
  await waitFor(() => (started >= jobs ? true : undefined), { timeoutMs: 60_000 });
  const t0 = Date.now();
  let max = 0;
  let samples = 0;
  while (Date.now() - t0 < HOLD_MS) {
    const { rows }: { rows: Array<{ n: number; oldest: number }> } = await env.knex.raw(
      "select count(*)::int as n, coalesce(max(extract(epoch from now() - xact_start)), 0)::float as oldest from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'",
    );
    const sample = rows[0]!;
    max = Math.max(max, sample.n);
    samples++;
    if (samples % 20 === 0) console.log(`t=${Math.round((Date.now() - t0) / 1000)}s idle_in_transaction=${sample.n} oldest_xact_s=${sample.oldest.toFixed(1)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  open();
  await Promise.all(done);
  console.log(`RESULT jobs=${jobs} held=${HOLD_MS}ms samples=${samples} max_idle_in_transaction=${max}`);
  expect(max).toBe(0);
}, 300_000);
