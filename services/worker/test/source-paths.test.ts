import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveKey, parseArchiveMetadata, parseUtcDay } from '@dcar/domain';
import { createLogger, createS3Client, loadWorkerConfig, type ArchiveHourJobData } from '@dcar/platform';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { startS3FaultProxy } from '@dcar/testing/s3-fault-proxy';
import { seedConversationAudio, type SeedRow } from '@dcar/testing/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiverFor, readZipObject } from './helpers.js';

const DAY = parseUtcDay('2025-12-12')!;
const VICTIM = 'tenant-victim';
const ATTACKER = 'tenant-attacker';

let env: TestEnvironment;
const directories: string[] = [];

beforeAll(async () => {
  env = await createTestEnvironment();
});
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
  await env?.close();
});

function job(tenantId: string, hour: number): ArchiveHourJobData {
  return { runId: 'run-1', tenantId, utcDay: DAY, hour, round: 1, force: false };
}

const at = (time: string) => new Date(`${DAY}T${time}Z`);

/** The archiver's logger, writing to a file of its own; `lines()` reads what it wrote, parsed. */
function capturingLogger() {
  const directory = mkdtempSync(join(tmpdir(), 'dcar-log-test-'));
  directories.push(directory);
  const path = join(directory, 'log.ndjson');
  const fd = openSync(path, 'w');
  return {
    logger: createLogger({ service: 'worker-test', level: 'info', fd }),
    lines: (): Array<Record<string, unknown>> => {
      closeSync(fd);
      return readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => line.trim())
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    },
  };
}

describe('source rows whose storage_path climbs out of the source bucket', () => {
  it('never reads them: each is recorded as missing, with a warning saying why, and no other object reaches the ZIP', async () => {
    // Another tenant's hour, archived first: the key the hostile row aims at.
    await seedConversationAudio({
      knex: env.knex,
      s3: env.s3,
      bucket: env.config.s3.sourceBucket,
      tenantId: VICTIM,
      rows: [
        { externalConversationId: 'secret-conv', sessionId: 's', messageId: 1, type: 'agent_tts', recordedAt: at('01:10:00'), format: 'wav_pcm', seconds: 1 },
      ],
    });
    const victim = archiverFor(env);
    expect(await victim.archiveTenantHour(job(VICTIM, 1), { jobId: 'victim-01', signal: new AbortController().signal })).toMatchObject({
      outcome: 'available',
    });
    const victimKey = archiveKey(VICTIM, DAY, 1);

    const hostile = [
      `../${env.config.s3.archiveBucket}/${victimKey}`,
      `${ATTACKER}/../../${env.config.s3.archiveBucket}/${victimKey}`,
      `./${ATTACKER}/x.wav`,
      `/${env.config.s3.archiveBucket}/${victimKey}`,
      `..\\${env.config.s3.archiveBucket}\\${victimKey.replaceAll('/', '\\')}`,
      // PostgreSQL text holds no NUL; any other control character is refused the same way.
      `${ATTACKER}/x\u001b.wav`,
    ];
    const rows: SeedRow[] = [
      ...hostile.map((storagePath, i) => ({
        externalConversationId: 'conv-h',
        sessionId: 's',
        messageId: 10 + i,
        type: 'agent_tts',
        recordedAt: at(`01:20:0${i}`),
        format: 'wav_pcm' as const,
        seconds: 1,
        storagePath,
        // Nothing is uploaded under these keys: the store would resolve them itself.
        omitObject: true,
      })),
      { externalConversationId: 'conv-ok', sessionId: 's', messageId: 99, type: 'user_audio', recordedAt: at('01:30:00'), format: 'wav_pcm', seconds: 1 },
    ];
    await seedConversationAudio({ knex: env.knex, s3: env.s3, bucket: env.config.s3.sourceBucket, tenantId: ATTACKER, rows });

    // Through a proxy that records what reaches the store.
    const proxy = await startS3FaultProxy(env.config.s3.endpoint);
    const sourceReads: string[] = [];
    proxy.onRequest = ({ method, path }) => {
      if (method === 'GET' && !path.startsWith(`/${env.config.s3.archiveBucket}`)) sourceReads.push(path);
    };
    const throughProxy = createS3Client(loadWorkerConfig({ ...env.env, S3_ENDPOINT: proxy.endpoint }).s3);
    const { logger, lines } = capturingLogger();
    const { archiveTenantHour } = archiverFor(env, { s3: throughProxy, logger });
    try {
      const summary = await archiveTenantHour(job(ATTACKER, 1), { jobId: 'attacker-01', signal: new AbortController().signal });
      expect(summary).toMatchObject({
        outcome: 'available',
        fileCount: hostile.length + 1,
        files: { converted: 1, missing: hostile.length, unconvertible: 0 },
      });
    } finally {
      throughProxy.destroy();
      await proxy.close();
    }

    // Only the plain key was read.
    expect(sourceReads).toEqual([`/${env.config.s3.sourceBucket}/${ATTACKER}/project/conversations/conv-ok/s/99_user_audio.wav`]);

    const zip = await readZipObject(env.s3, env.config.s3.archiveBucket, archiveKey(ATTACKER, DAY, 1));
    directories.push(zip.directory);
    expect(zip.entries.map((entry) => entry.name)).toEqual(['conv-ok/s/message_99_user_audio.opus', 'metadata.json']);
    const metadata = parseArchiveMetadata(zip.entries.at(-1)!.content.toString('utf8'));
    const files = metadata.sessions.flatMap((session) => session.files);
    expect(files.filter((file) => file.status === 'missing').map((file) => [file.originalPath, file.path])).toEqual(hostile.map((path) => [path, null]));

    const warnings = lines().filter((line) => line.msg === 'source storage_path is not a plain object key; not read, recorded as missing');
    // Downloads run concurrently: the warnings come in any order.
    expect(warnings.map((line) => [line.level, line.messageId, line.reason]).sort()).toEqual([
      ['warn', '10', '".." segment'],
      ['warn', '11', '".." segment'],
      ['warn', '12', '"." segment'],
      ['warn', '13', 'leading "/"'],
      ['warn', '14', 'backslash'],
      ['warn', '15', 'control character'],
    ]);
    expect(warnings.every((line) => line.tenantId === ATTACKER && line.utcDay === DAY && line.hour === '01')).toBe(true);
  });
});

describe('a source row whose storage_path no S3 store can hold', () => {
  it('records it as missing without asking the store, so the hour is archived instead of failing every round', async () => {
    const TENANT = 'tenant-long-key';
    // S3 keys are at most 1,024 bytes of UTF-8: 600 two-byte characters are 1,200 bytes. The embedded
    // store answers such a key with a 500, which would otherwise fail the hour as a transient error.
    const tooLong = `${TENANT}/${'ü'.repeat(600)}.wav`;
    await seedConversationAudio({
      knex: env.knex,
      s3: env.s3,
      bucket: env.config.s3.sourceBucket,
      tenantId: TENANT,
      rows: [
        {
          externalConversationId: 'conv',
          sessionId: 's',
          messageId: 1,
          type: 'agent_tts',
          recordedAt: at('02:10:00'),
          format: 'wav_pcm',
          seconds: 1,
          storagePath: tooLong,
          omitObject: true,
        },
        { externalConversationId: 'conv', sessionId: 's', messageId: 2, type: 'user_audio', recordedAt: at('02:10:05'), format: 'wav_pcm', seconds: 1 },
      ],
    });
    const { logger, lines } = capturingLogger();
    const { archiveTenantHour } = archiverFor(env, { logger });
    const summary = await archiveTenantHour(job(TENANT, 2), { jobId: 'long-key-02', signal: new AbortController().signal });
    expect(summary).toMatchObject({ outcome: 'available', fileCount: 2, files: { converted: 1, missing: 1, unconvertible: 0 } });

    const zip = await readZipObject(env.s3, env.config.s3.archiveBucket, archiveKey(TENANT, DAY, 2));
    directories.push(zip.directory);
    const metadata = parseArchiveMetadata(zip.entries.at(-1)!.content.toString('utf8'));
    const files = metadata.sessions.flatMap((session) => session.files);
    expect(files.map((file) => [file.messageId, file.status, file.originalPath])).toEqual([
      ['1', 'missing', tooLong],
      ['2', 'converted', `${TENANT}/project/conversations/conv/s/2_user_audio.wav`],
    ]);
    const warnings = lines().filter((line) => line.msg === 'source storage_path is not a plain object key; not read, recorded as missing');
    expect(warnings.map((line) => [line.messageId, line.reason])).toEqual([['1', 'longer than 1,024 bytes']]);
  });
});
