import { rm } from 'node:fs/promises';
import { archiveKey, parseArchiveMetadata, parseUtcDay } from '@dcar/domain';
import type { ArchiveHourJobData } from '@dcar/platform';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { seedConversationAudio, type SeedRow } from '@dcar/testing/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processorFor, readZipObject } from './helpers.js';

const DAY = parseUtcDay('2025-12-12')!;
const TENANT = 'tenant-names';

let env: TestEnvironment;
const directories: string[] = [];

beforeAll(async () => {
  env = await createTestEnvironment();
});
afterAll(async () => {
  await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
  await env?.close();
});

function job(hour: number): ArchiveHourJobData {
  return { runId: 'run-names', tenantId: TENANT, utcDay: DAY, hour, round: 1, force: false };
}

async function archiveHour(hour: number, rows: SeedRow[]) {
  await seedConversationAudio({ knex: env.knex, s3: env.s3, bucket: env.config.s3.sourceBucket, tenantId: TENANT, rows });
  const { processor } = processorFor(env);
  const summary = await processor(job(hour), { jobId: `job-${hour}`, signal: new AbortController().signal });
  const zip = await readZipObject(env.s3, env.config.s3.archiveBucket, archiveKey(TENANT, DAY, hour));
  directories.push(zip.directory);
  const metadataEntry = zip.entries.find((entry) => entry.name === 'metadata.json');
  if (!metadataEntry) throw new Error('no metadata.json');
  return { summary, zip, metadataText: metadataEntry.content.toString('utf8') };
}

describe('message ids above 2^53', () => {
  it('are written exactly in file names and in metadata.json', async () => {
    const at = new Date(`${DAY}T05:10:00Z`);
    const { zip, metadataText } = await archiveHour(5, [
      { externalConversationId: 'conv-big', sessionId: 'session-1', messageId: '9223372036854775807', type: 'agent_tts', recordedAt: at, format: 'wav_pcm', seconds: 1, seed: 1 },
      { externalConversationId: 'conv-big', sessionId: 'session-1', messageId: '9007199254740993', type: 'user_audio', recordedAt: at, format: 'wav_pcm', seconds: 1, seed: 2 },
    ]);
    expect(zip.entries.map((entry) => entry.name)).toEqual([
      'conv-big/session-1/message_9007199254740993_user_audio.opus',
      'conv-big/session-1/message_9223372036854775807_agent_tts.opus',
      'metadata.json',
    ]);
    // JSON numbers, digit for digit: a client parsing them as 64-bit integers gets the database's value.
    expect(metadataText).toContain('"messageId": 9223372036854775807,');
    expect(metadataText).toContain('"messageId": 9007199254740993,');
    const files = parseArchiveMetadata(metadataText).sessions.flatMap((session) => session.files);
    expect(files.map((file) => [file.messageId, file.fileName])).toEqual([
      ['9007199254740993', 'message_9007199254740993_user_audio.opus'],
      ['9223372036854775807', 'message_9223372036854775807_agent_tts.opus'],
    ]);
  });
});
