import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { findArchiveRow, insertArchiveRows } from '@dcar/archives/test-fixtures';
import { archiveKey, parseUtcDay, type ArchiveMetadata } from '@dcar/domain';
import { createS3Client, loadWorkerConfig, type ArchiveHourJobData } from '@dcar/platform';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { startS3FaultProxy } from '@dcar/testing/s3-fault-proxy';
import { seedConversationAudio, type SeedRow, type SeededRow } from '@dcar/testing/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidJobError } from '../src/archive-tenant-hour.js';
import { objectExists, probe, archiverFor, readZipObject, sha256 } from './helpers.js';

const DAY = parseUtcDay('2025-12-12')!;
const TENANT = 'tenant-acme';
const OTHER_TENANT = 'tenant-other';

let env: TestEnvironment;
const directories: string[] = [];

beforeAll(async () => {
  env = await createTestEnvironment();
});
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
  await env?.close();
});

function job(hour: number, overrides: Partial<ArchiveHourJobData> = {}): ArchiveHourJobData {
  return { runId: 'run-1', tenantId: TENANT, utcDay: DAY, hour, round: 1, force: false, ...overrides };
}

async function archiveRow(tenantId: string, hour: number) {
  const row = await findArchiveRow(env.knex, { tenantId, utcDay: DAY, hour });
  if (!row) throw new Error(`no archive row for ${tenantId} hour ${hour}`);
  return row;
}

async function seed(tenantId: string, rows: SeedRow[]): Promise<SeededRow[]> {
  return seedConversationAudio({ knex: env.knex, s3: env.s3, bucket: env.config.s3.sourceBucket, tenantId, rows });
}

const at = (time: string) => new Date(`${DAY}T${time}Z`);

describe('an hour of mixed sources', () => {
  let seeded: SeededRow[];

  beforeAll(async () => {
    // Deliberately seeded out of archive order: the worker must sort by conversation, session, time, message id.
    seeded = await seed(TENANT, [
      {
        externalConversationId: 'conv-b',
        sessionId: 'session-2',
        messageId: 30,
        type: 'agent_tts',
        recordedAt: at('14:30:00'),
        format: 'mp3',
        sampleRate: 22050,
        seconds: 4,
      },
      {
        externalConversationId: 'conv-a',
        sessionId: 'session-1',
        messageId: 11,
        type: 'user_audio',
        recordedAt: at('14:05:03'),
        format: 'wav_pcm',
        sampleRate: 8000,
        seconds: 3,
      },
      {
        externalConversationId: 'conv-a',
        sessionId: 'session-1',
        messageId: 10,
        type: 'agent_tts',
        recordedAt: at('14:05:00'),
        format: 'wav_pcm',
        sampleRate: 16000,
        seconds: 3,
      },
      {
        externalConversationId: 'conv-a',
        sessionId: 'session-1',
        messageId: 12,
        type: 'agent_tts',
        recordedAt: at('14:05:09'),
        format: 'wav_pcm',
        sampleRate: 48000,
        channels: 2,
        seconds: 5,
      },
      {
        externalConversationId: 'conv-a',
        sessionId: 'session-1',
        messageId: 13,
        type: 'user_audio',
        recordedAt: at('14:05:15'),
        format: 'wav_mulaw',
        sampleRate: 8000,
        seconds: 6,
      },
      {
        externalConversationId: 'conv-a',
        sessionId: 'session-1',
        messageId: 14,
        type: 'agent_tts',
        recordedAt: at('14:05:15'),
        format: 'ogg_vorbis',
        sampleRate: 24000,
        seconds: 3,
      },
      {
        externalConversationId: 'conv-b',
        sessionId: 'session-2',
        messageId: 31,
        type: 'user_audio',
        recordedAt: at('14:30:05'),
        format: 'webm_opus',
        seconds: 2,
      },
      {
        externalConversationId: 'conv-b',
        sessionId: 'session-2',
        messageId: 32,
        type: 'user_audio',
        recordedAt: at('14:30:09'),
        format: 'wav_pcm',
        seconds: 2,
        omitObject: true,
      },
      {
        externalConversationId: 'conv-b',
        sessionId: 'session-2',
        messageId: 33,
        type: 'agent_tts',
        recordedAt: at('14:30:12'),
        format: 'mp3',
        seconds: 2,
        content: Buffer.from('this is not audio at all, just text '.repeat(40)),
      },
      {
        externalConversationId: 'conv-b',
        sessionId: 'session-3',
        messageId: 40,
        type: 'user_audio',
        recordedAt: at('14:00:00.000'),
        format: 'wav_pcm',
        seconds: 2,
        content: Buffer.alloc(0),
      },
      {
        externalConversationId: 'conv-b',
        sessionId: 'session-3',
        messageId: 41,
        type: 'agent_tts',
        recordedAt: at('14:59:59.999'),
        format: 'ogg_vorbis',
        seconds: 2,
      },
      // The neighbouring hours' edges and another tenant's recordings stay out of this hour.
      {
        externalConversationId: 'conv-a',
        sessionId: 'session-1',
        messageId: 9,
        type: 'user_audio',
        recordedAt: at('13:59:59.999'),
        format: 'wav_pcm',
        seconds: 2,
      },
      {
        externalConversationId: 'conv-c',
        sessionId: 'session-9',
        messageId: 90,
        type: 'user_audio',
        recordedAt: at('15:00:00.000'),
        format: 'wav_pcm',
        seconds: 2,
      },
    ]);
    await seed(OTHER_TENANT, [
      { externalConversationId: 'conv-a', sessionId: 'session-1', messageId: 10, type: 'agent_tts', recordedAt: at('14:10:00'), format: 'wav_pcm', seconds: 2 },
      { externalConversationId: 'conv-z', sessionId: 'session-z', messageId: 99, type: 'agent_tts', recordedAt: at('14:20:00'), format: 'mp3', seconds: 2 },
    ]);
  });

  it('gives a ZIP whose entries, order, metadata and audio are exactly as the contract says', async () => {
    const { archiveTenantHour, registry } = archiverFor(env);
    const before = Date.now();
    const summary = await archiveTenantHour(job(14), { jobId: 'job-14', signal: new AbortController().signal });
    const key = archiveKey(TENANT, DAY, 14);
    expect(key).toBe('tenant-acme/daily-conversation-audio-recordings/2025/12/12/14.zip');
    expect(summary).toMatchObject({
      outcome: 'available',
      objectKey: key,
      fileCount: 11,
      sessionCount: 3,
      files: { converted: 8, missing: 1, unconvertible: 2 },
    });

    const { entries, bytes, directory } = await readZipObject(env.s3, env.config.s3.archiveBucket, key);
    directories.push(directory);
    expect(entries.map((entry) => entry.name)).toEqual([
      'conv-a/session-1/message_10_agent_tts.opus',
      'conv-a/session-1/message_11_user_audio.opus',
      'conv-a/session-1/message_12_agent_tts.opus',
      'conv-a/session-1/message_13_user_audio.opus',
      'conv-a/session-1/message_14_agent_tts.opus',
      'conv-b/session-2/message_30_agent_tts.opus',
      'conv-b/session-2/message_31_user_audio.opus',
      'conv-b/session-2/message_33_agent_tts.mp3',
      'conv-b/session-3/message_40_user_audio.wav',
      'conv-b/session-3/message_41_agent_tts.opus',
      'metadata.json',
    ]);
    for (const entry of entries.filter((e) => e.name.endsWith('.opus') || e.name.endsWith('.mp3') || e.name.endsWith('.wav'))) {
      expect(entry.compressionMethod, entry.name).toBe(0);
    }

    const byMessage = new Map(seeded.map((row) => [row.messageId, row]));
    const durations: Record<string, number> = {};
    for (const entry of entries.filter((e) => e.name.endsWith('.opus'))) {
      const audio = await probe(entry.content, directory);
      expect(audio, entry.name).toMatchObject({ formatName: 'ogg', codecName: 'opus', channels: 1, sampleRate: 48000 });
      durations[entry.name] = audio.durationSeconds;
      // Constrained VBR at 24 kbps, Ogg framing included.
      expect(audio.bitRate, entry.name).toBeGreaterThan(18_000);
      expect(audio.bitRate, entry.name).toBeLessThan(30_000);
    }
    expect(durations['conv-a/session-1/message_13_user_audio.opus']).toBeCloseTo(6, 1);
    expect(durations['conv-a/session-1/message_12_agent_tts.opus']).toBeCloseTo(5, 1);
    // Unconvertible sources are kept byte for byte under their original extension.
    expect(entries.find((e) => e.name.endsWith('message_33_agent_tts.mp3'))?.content.equals(byMessage.get(33)?.content as Buffer)).toBe(true);
    expect(entries.find((e) => e.name.endsWith('message_40_user_audio.wav'))?.content.length).toBe(0);

    const metadata = JSON.parse(entries.at(-1)!.content.toString('utf8')) as ArchiveMetadata;
    // Custody: each entry's SHA-256 is of its bytes in the ZIP, each original's of the seeded source object.
    const entryBytes = new Map(entries.map((entry) => [entry.name, entry.content]));
    const file = (messageId: number, fileName: string, status: string) => {
      const row = byMessage.get(messageId)!;
      const path = status === 'missing' ? null : `${row.externalConversationId}/${row.sessionId}/${fileName}`;
      return {
        fileName,
        originalPath: row.storagePath,
        messageId,
        type: row.type,
        timestamp: row.recordedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        originalSizeBytes: row.sizeBytes,
        status,
        path,
        sha256: path === null ? null : sha256(entryBytes.get(path)!),
        originalSha256: status === 'missing' ? null : row.sha256,
      };
    };
    expect(metadata).toEqual({
      generatedAt: metadata.generatedAt,
      utcDay: '2025-12-12',
      hour: '14',
      revision: 1,
      totalSessions: 3,
      totalFiles: 11,
      sessions: [
        {
          externalConversationId: 'conv-a',
          sessionId: 'session-1',
          files: [
            file(10, 'message_10_agent_tts.opus', 'converted'),
            file(11, 'message_11_user_audio.opus', 'converted'),
            file(12, 'message_12_agent_tts.opus', 'converted'),
            file(13, 'message_13_user_audio.opus', 'converted'),
            file(14, 'message_14_agent_tts.opus', 'converted'),
          ],
        },
        {
          externalConversationId: 'conv-b',
          sessionId: 'session-2',
          files: [
            file(30, 'message_30_agent_tts.opus', 'converted'),
            file(31, 'message_31_user_audio.opus', 'converted'),
            file(32, 'message_32_user_audio.opus', 'missing'),
            file(33, 'message_33_agent_tts.mp3', 'unconvertible'),
          ],
        },
        {
          externalConversationId: 'conv-b',
          sessionId: 'session-3',
          files: [file(40, 'message_40_user_audio.wav', 'unconvertible'), file(41, 'message_41_agent_tts.opus', 'converted')],
        },
      ],
    });
    expect(metadata.generatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(new Date(metadata.generatedAt).getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);

    const row = await archiveRow(TENANT, 14);
    expect(row).toMatchObject({
      status: 'available',
      object_key: key,
      sha256: sha256(bytes),
      size_bytes: bytes.length,
      file_count: 11,
      session_count: 3,
      attempts: 1,
      last_error: null,
      last_run_id: 'run-1',
      revision: 1,
    });
    expect((row.generated_at as Date).toISOString().replace('.000Z', 'Z')).toBe(metadata.generatedAt);

    const exposition = await registry.metrics();
    expect(exposition).toMatch(/dcar_worker_files_total\{status="converted"\} 8/);
    expect(exposition).toMatch(/dcar_worker_files_total\{status="missing"\} 1/);
    expect(exposition).toMatch(/dcar_worker_files_total\{status="unconvertible"\} 2/);
    expect(exposition).toMatch(/dcar_worker_jobs_total\{outcome="available"\} 1/);
  });

  it('keeps the 13:59:59.999 recording in hour 13 and never mixes tenants', async () => {
    const { archiveTenantHour } = archiverFor(env);
    await archiveTenantHour(job(13), { jobId: 'job-13', signal: new AbortController().signal });
    const thirteen = await readZipObject(env.s3, env.config.s3.archiveBucket, archiveKey(TENANT, DAY, 13));
    directories.push(thirteen.directory);
    expect(thirteen.entries.map((e) => e.name)).toEqual(['conv-a/session-1/message_9_user_audio.opus', 'metadata.json']);

    await archiveTenantHour(job(14, { tenantId: OTHER_TENANT }), { jobId: 'job-other', signal: new AbortController().signal });
    const other = await readZipObject(env.s3, env.config.s3.archiveBucket, archiveKey(OTHER_TENANT, DAY, 14));
    directories.push(other.directory);
    expect(other.entries.map((e) => e.name)).toEqual([
      'conv-a/session-1/message_10_agent_tts.opus',
      'conv-z/session-z/message_99_agent_tts.opus',
      'metadata.json',
    ]);
    const metadata = JSON.parse(other.entries.at(-1)!.content.toString('utf8')) as ArchiveMetadata;
    expect(metadata.sessions.flatMap((s) => s.files.map((f) => f.originalPath)).every((path) => path.startsWith(`${OTHER_TENANT}/`))).toBe(true);
    expect((await archiveRow(OTHER_TENANT, 14)).file_count).toBe(2);
  });

  it('does no work again for an available hour unless forced, and a forced run replaces the archive', async () => {
    const key = archiveKey(TENANT, DAY, 14);
    const first = await archiveRow(TENANT, 14);
    const { archiveTenantHour } = archiverFor(env, { now: () => new Date('2025-12-13T03:00:00.400Z') });
    const skipped = await archiveTenantHour(job(14, { runId: 'run-2' }), { jobId: 'job-skip', signal: new AbortController().signal });
    expect(skipped).toEqual({ outcome: 'skipped', status: 'available' });
    expect(await archiveRow(TENANT, 14)).toEqual(first);

    const forced = await archiveTenantHour(job(14, { runId: 'run-3', force: true }), { jobId: 'job-force', signal: new AbortController().signal });
    expect(forced).toMatchObject({ outcome: 'available', fileCount: 11 });
    const again = await readZipObject(env.s3, env.config.s3.archiveBucket, key);
    directories.push(again.directory);
    const metadata = JSON.parse(again.entries.at(-1)!.content.toString('utf8')) as ArchiveMetadata;
    expect(metadata.generatedAt).toBe('2025-12-13T03:00:00Z');
    // A regeneration: revision + 1, in metadata.json and on the row.
    expect(metadata.revision).toBe(2);
    expect(await archiveRow(TENANT, 14)).toMatchObject({
      status: 'available',
      attempts: 2,
      revision: 2,
      last_run_id: 'run-3',
      sha256: sha256(again.bytes),
      size_bytes: again.bytes.length,
    });
  });

  it('records the fingerprint of the rows it archived; a reconciliation job skips the hour while they are unchanged', async () => {
    const row = await archiveRow(TENANT, 14);
    expect(row).toMatchObject({ source_file_count: 11, source_digest: expect.stringMatching(/^-?\d+$/) as string });
    const { archiveTenantHour } = archiverFor(env);
    const unchanged = await archiveTenantHour(job(14, { runId: 'run-r1', reconcile: true }), { jobId: 'job-r1', signal: new AbortController().signal });
    expect(unchanged).toEqual({ outcome: 'skipped', status: 'unchanged' });
    expect(await archiveRow(TENANT, 14)).toEqual(row);

    // A corrected size changes the fingerprint: the same job now regenerates the hour.
    const [first]: Array<{ id: number }> = await env.knex('conversation_audio_files').where({ tenant_id: TENANT }).orderBy('id').limit(1).select('id');
    const { size_bytes: size }: { size_bytes: number } = await env.knex('conversation_audio_files').where({ id: first!.id }).first('size_bytes');
    await env
      .knex('conversation_audio_files')
      .where({ id: first!.id })
      .update({ size_bytes: Number(size) + 1 });
    try {
      const changed = await archiveTenantHour(job(14, { runId: 'run-r2', reconcile: true }), { jobId: 'job-r2', signal: new AbortController().signal });
      expect(changed).toMatchObject({ outcome: 'available', revision: row.revision + 1, fileCount: 11 });
      const after = await archiveRow(TENANT, 14);
      expect(after.source_digest).not.toBe(row.source_digest);
      expect(after).toMatchObject({ revision: row.revision + 1, last_run_id: 'run-r2' });
    } finally {
      await env.knex('conversation_audio_files').where({ id: first!.id }).update({ size_bytes: size });
    }
  });
});

describe('two runs of one hour at once', () => {
  it('queue up on the hour lock, so the row always describes the object in the store', async () => {
    const hour = 14;
    const before = await archiveRow(TENANT, hour);
    const { archiveTenantHour } = archiverFor(env);
    const [first, second] = await Promise.all([
      archiveTenantHour(job(hour, { runId: 'run-a', force: true }), { jobId: 'job-a', signal: new AbortController().signal }),
      archiveTenantHour(job(hour, { runId: 'run-b', force: true }), { jobId: 'job-b', signal: new AbortController().signal }),
    ]);
    expect([first.outcome, second.outcome]).toEqual(['available', 'available']);
    const stored = await readZipObject(env.s3, env.config.s3.archiveBucket, archiveKey(TENANT, DAY, hour));
    directories.push(stored.directory);
    const row = await archiveRow(TENANT, hour);
    expect(row).toMatchObject({ sha256: sha256(stored.bytes), size_bytes: stored.bytes.length, attempts: before.attempts + 2, revision: before.revision + 2 });
    expect((JSON.parse(stored.entries.at(-1)!.content.toString('utf8')) as ArchiveMetadata).revision).toBe(before.revision + 2);
  });

  it('refuses a payload that is not an ArchiveHourJobData', async () => {
    const { archiveTenantHour } = archiverFor(env);
    await expect(archiveTenantHour(job(24), { jobId: 'bad', signal: new AbortController().signal })).rejects.toThrow(InvalidJobError);
    await expect(archiveTenantHour(job(1, { utcDay: '2025-02-30' }), { jobId: 'bad', signal: new AbortController().signal })).rejects.toThrow(InvalidJobError);
  });
});

describe('an hour without recordings', () => {
  it('records no_data, uploads nothing and removes an archive left from an earlier generation', async () => {
    const key = archiveKey(TENANT, DAY, 3);
    await env.s3.send(new PutObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: key, Body: Buffer.from('old archive') }));
    await insertArchiveRows(env.knex, [{ tenant_id: TENANT, utc_day: DAY, hour: 3, status: 'pending' }]);
    const { archiveTenantHour } = archiverFor(env);
    const summary = await archiveTenantHour(job(3), { jobId: 'job-3', signal: new AbortController().signal });
    expect(summary).toEqual({ outcome: 'no_data', revision: 1 });
    expect(await objectExists(env.s3, env.config.s3.archiveBucket, key)).toBe(false);
    expect(await archiveRow(TENANT, 3)).toMatchObject({
      status: 'no_data',
      object_key: null,
      file_count: 0,
      session_count: 0,
      size_bytes: 0,
      attempts: 1,
      last_run_id: 'run-1',
    });
  });
});

describe('a store that fails', () => {
  it('fails the job, leaves no object and keeps an available archive available', async () => {
    const hour = 20;
    await seed(TENANT, [
      { externalConversationId: 'conv-f', sessionId: 's', messageId: 1, type: 'agent_tts', recordedAt: at('20:10:00'), format: 'wav_pcm', seconds: 2 },
    ]);
    await insertArchiveRows(env.knex, [
      {
        tenant_id: TENANT,
        utc_day: DAY,
        hour,
        status: 'available',
        object_key: 'earlier',
        sha256: 'abc',
        size_bytes: 10,
        file_count: 1,
        session_count: 1,
        attempts: 1,
      },
    ]);
    // A source bucket that does not exist is an error of the store, not a missing file.
    const { archiveTenantHour } = archiverFor(env, { buckets: { source: 'no-such-source-bucket', archive: env.config.s3.archiveBucket } });
    await expect(archiveTenantHour(job(hour, { force: true }), { jobId: 'job-f', signal: new AbortController().signal })).rejects.toThrow();
    expect(await objectExists(env.s3, env.config.s3.archiveBucket, archiveKey(TENANT, DAY, hour))).toBe(false);
    const row = await archiveRow(TENANT, hour);
    expect(row).toMatchObject({ status: 'available', object_key: 'earlier', attempts: 2 });
    expect(row.last_error).toMatch(/NoSuchBucket/);

    // An unreachable store: the network error fails the job too.
    const unreachable = createS3Client(loadWorkerConfig({ ...env.env, S3_ENDPOINT: 'http://127.0.0.1:9' }).s3);
    const { archiveTenantHour: cutOff } = archiverFor(env, { s3: unreachable });
    await expect(cutOff(job(hour, { force: true }), { jobId: 'job-g', signal: new AbortController().signal })).rejects.toThrow();
    unreachable.destroy();
    expect(await archiveRow(TENANT, hour)).toMatchObject({ status: 'available', attempts: 3 });
  });
});

describe('a source store that fails in the middle of an hour', () => {
  it('fails the job, leaving no object and no spooled files', async () => {
    const hour = 21;
    const blob = Buffer.alloc(6 * 1024 * 1024);
    const rows: SeedRow[] = [
      // Stored as they are (undecodable), these push the ZIP past its first 8 MiB part early.
      ...[1, 2].map((messageId) => ({
        externalConversationId: 'conv-a',
        sessionId: 's',
        messageId,
        type: 'blob',
        recordedAt: at(`21:00:0${messageId}`),
        format: 'wav_pcm' as const,
        seconds: 1,
        content: blob,
      })),
      ...Array.from({ length: 20 }, (_, i) => ({
        externalConversationId: 'conv-b',
        sessionId: 's',
        messageId: 100 + i,
        type: 'agent_tts',
        recordedAt: at(`21:10:${String(i).padStart(2, '0')}`),
        format: 'wav_pcm' as const,
        seconds: 2,
      })),
    ];
    const seeded = await seed(TENANT, rows);
    const unreachable = seeded.find((row) => row.messageId === 115)!.storagePath;
    const proxy = await startS3FaultProxy(env.config.s3.endpoint);
    proxy.failWhen = ({ method, path }) => method === 'GET' && path === `/${env.config.s3.sourceBucket}/${unreachable}`;
    const throughProxy = createS3Client(loadWorkerConfig({ ...env.env, S3_ENDPOINT: proxy.endpoint }).s3);
    const spool = await mkdtemp(join(tmpdir(), 'dcar-spool-test-'));
    directories.push(spool);
    const { archiveTenantHour } = archiverFor(env, { s3: throughProxy, tempDirectory: spool, partSizeBytes: 5 * 1024 * 1024 });
    try {
      await expect(archiveTenantHour(job(hour), { jobId: 'job-21', signal: new AbortController().signal })).rejects.toThrow();
    } finally {
      throughProxy.destroy();
      await proxy.close();
    }
    expect(proxy.refused).toBeGreaterThan(0);
    expect(await objectExists(env.s3, env.config.s3.archiveBucket, archiveKey(TENANT, DAY, hour))).toBe(false);
    expect(await readdir(spool)).toEqual([]);
    expect(await archiveRow(TENANT, hour)).toMatchObject({
      status: 'pending',
      attempts: 1,
      last_error: expect.stringMatching(/ServiceUnavailable|503/) as string,
    });
  });
});

describe('a source store that stalls', () => {
  it.each([
    ['never answers a read', 'answer' as const, 22],
    ['stops sending a body halfway', 'body' as const, 23],
  ])(
    'fails the job when it %s, within the request timeout, like any store error',
    async (_what, stall, hour) => {
      const seeded = await seed(TENANT, [
        { externalConversationId: 'conv-a', sessionId: 's', messageId: 1, type: 'agent_tts', recordedAt: at(`${hour}:00:01`), format: 'wav_pcm', seconds: 1 },
        { externalConversationId: 'conv-a', sessionId: 's', messageId: 2, type: 'agent_tts', recordedAt: at(`${hour}:00:02`), format: 'wav_pcm', seconds: 1 },
      ]);
      const stuck = seeded[1]!.storagePath;
      const proxy = await startS3FaultProxy(env.config.s3.endpoint);
      proxy.stallWhen = ({ method, path }) => (method === 'GET' && path === `/${env.config.s3.sourceBucket}/${stuck}` ? stall : false);
      const throughProxy = createS3Client(loadWorkerConfig({ ...env.env, S3_ENDPOINT: proxy.endpoint, S3_REQUEST_TIMEOUT_MS: '500' }).s3);
      const { archiveTenantHour } = archiverFor(env, { s3: throughProxy });
      try {
        await expect(archiveTenantHour(job(hour), { jobId: `job-${hour}`, signal: new AbortController().signal })).rejects.toMatchObject({
          name: 'TimeoutError',
        });
      } finally {
        throughProxy.destroy();
        await proxy.close();
      }
      expect(proxy.stalled).toBeGreaterThan(0);
      expect(await objectExists(env.s3, env.config.s3.archiveBucket, archiveKey(TENANT, DAY, hour))).toBe(false);
      expect(await archiveRow(TENANT, hour)).toMatchObject({ status: 'pending', attempts: 1, last_error: expect.stringMatching(/^TimeoutError: /) as string });
    },
    60_000,
  );
});

describe('an hour of 1,000 short clips', () => {
  it('archives every clip, in order, with one metadata entry each', async () => {
    const hour = 9;
    const formats = ['wav_pcm', 'wav_mulaw', 'mp3', 'ogg_vorbis'] as const;
    const rows: SeedRow[] = Array.from({ length: 1000 }, (_, i) => ({
      externalConversationId: `conv-${String(Math.floor(i / 50)).padStart(2, '0')}`,
      sessionId: `session-${Math.floor(i / 10) % 5}`,
      messageId: 100_000 + i,
      type: i % 2 === 0 ? 'agent_tts' : 'user_audio',
      recordedAt: new Date(at('09:00:00').getTime() + i * 3000),
      format: formats[i % formats.length]!,
      seconds: 1,
      seed: (i % 3) + 1,
    }));
    await seed(TENANT, rows);
    const { archiveTenantHour, metrics } = archiverFor(env);
    const summary = await archiveTenantHour(job(hour), { jobId: 'job-1000', signal: new AbortController().signal });
    expect(summary).toMatchObject({ outcome: 'available', fileCount: 1000, sessionCount: 100, files: { converted: 1000, missing: 0, unconvertible: 0 } });
    const { entries, directory } = await readZipObject(env.s3, env.config.s3.archiveBucket, archiveKey(TENANT, DAY, hour));
    directories.push(directory);
    expect(entries).toHaveLength(1001);
    const expected = [...rows]
      .sort(
        (a, b) =>
          a.externalConversationId.localeCompare(b.externalConversationId) ||
          a.sessionId.localeCompare(b.sessionId) ||
          a.recordedAt.getTime() - b.recordedAt.getTime(),
      )
      .map((row) => `${row.externalConversationId}/${row.sessionId}/message_${row.messageId}_${row.type}.opus`);
    expect(entries.slice(0, -1).map((e) => e.name)).toEqual(expected);
    expect(entries.slice(0, -1).every((e) => e.content.subarray(0, 4).toString() === 'OggS' && e.content.includes('OpusHead'))).toBe(true);
    const metadata = JSON.parse(entries.at(-1)!.content.toString('utf8')) as ArchiveMetadata;
    expect(metadata.totalFiles).toBe(1000);
    expect(metadata.sessions.flatMap((s) => s.files).every((f) => f.status === 'converted')).toBe(true);
    // Several clips share one ffmpeg process.
    const processes = (await metrics.ffmpegProcesses.get()).values[0]?.value ?? 0;
    expect(processes).toBeLessThan(300);
    // 1,000 s of speech is ~25 s of CPU: on two cores shared with other test files, more than the default minute.
  }, 180_000);
});
