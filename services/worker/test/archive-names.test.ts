import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { archiveKey, parseArchiveMetadata, parseUtcDay } from '@dcar/domain';
import type { ArchiveHourJobData } from '@dcar/platform';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { seedConversationAudio, type SeedRow } from '@dcar/testing/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiverFor, readZipObject } from './helpers.js';

const run = promisify(execFile);

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
  const { archiveTenantHour } = archiverFor(env);
  const summary = await archiveTenantHour(job(hour), { jobId: `job-${hour}`, signal: new AbortController().signal });
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
      {
        externalConversationId: 'conv-big',
        sessionId: 'session-1',
        messageId: '9223372036854775807',
        type: 'agent_tts',
        recordedAt: at,
        format: 'wav_pcm',
        seconds: 1,
        seed: 1,
      },
      {
        externalConversationId: 'conv-big',
        sessionId: 'session-1',
        messageId: '9007199254740993',
        type: 'user_audio',
        recordedAt: at,
        format: 'wav_pcm',
        seconds: 1,
        seed: 2,
      },
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

const sha8 = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 8);

/** Every file under `directory`, as paths relative to it. */
async function filesUnder(directory: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(directory, prefix), { withFileTypes: true })) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) found.push(...(await filesUnder(directory, relative)));
    else found.push(relative);
  }
  return found;
}

describe('an hour of hostile ids', () => {
  it('archives every file under a safe, distinct path that unzip extracts, with the real ids in metadata.json', async () => {
    const at = (second: number) => new Date(`${DAY}T06:00:${String(second).padStart(2, '0')}Z`);
    const huge = 'x'.repeat(70_000);
    const conversations = [
      huge,
      `${'y'.repeat(300)}A`,
      `${'y'.repeat(300)}B`,
      'metadata.json',
      'ABC',
      'abc',
      'CON',
      'trailingdot.',
      'nul.txt',
      'ok',
      'görüşme 1',
      'caf\u00e9',
      'cafe\u0301',
    ];
    const sessions: Record<string, string> = { ok: 'S', 'görüşme 1': '会话 (2)' };
    const rows: SeedRow[] = conversations.map((conversation, i) => ({
      externalConversationId: conversation,
      sessionId: sessions[conversation] ?? 'session ',
      messageId: 100 + i,
      type: 'agent_tts',
      recordedAt: at(i),
      format: 'wav_pcm',
      seconds: 1,
      // Source keys stay short: the store refuses keys over 1,024 bytes.
      storagePath: `${TENANT}/hostile/${i}.wav`,
    }));
    rows.push(
      {
        externalConversationId: 'ok',
        sessionId: 's',
        messageId: 200,
        type: 'user_audio',
        recordedAt: at(20),
        format: 'wav_pcm',
        seconds: 1,
        storagePath: `${TENANT}/hostile/s.wav`,
      },
      {
        externalConversationId: 'ok',
        sessionId: 's',
        messageId: 201,
        type: `agent_${'t'.repeat(400)}`,
        recordedAt: at(21),
        format: 'wav_pcm',
        seconds: 1,
        storagePath: `${TENANT}/hostile/t.wav`,
      },
      {
        externalConversationId: 'ok',
        sessionId: 's',
        messageId: 202,
        type: 'user_audio',
        recordedAt: at(22),
        format: 'wav_pcm',
        seconds: 1,
        storagePath: `${TENANT}/hostile/missing.wav`,
        omitObject: true,
      },
    );
    const { summary, zip, metadataText } = await archiveHour(6, rows);
    expect(summary).toMatchObject({ outcome: 'available', fileCount: rows.length, files: { converted: rows.length - 1, missing: 1 } });

    const names = zip.entries.map((entry) => entry.name);
    expect(names).toContain(`${'x'.repeat(246)}~${sha8(huge)}/session_/message_100_agent_tts.opus`);
    expect(names).toEqual(
      expect.arrayContaining([
        'metadata.json~2/session_/message_103_agent_tts.opus',
        'ABC/session_/message_104_agent_tts.opus',
        'abc~2/session_/message_105_agent_tts.opus',
        '_CON/session_/message_106_agent_tts.opus',
        'trailingdot_/session_/message_107_agent_tts.opus',
        '_nul.txt/session_/message_108_agent_tts.opus',
        'ok/S/message_109_agent_tts.opus',
        'ok/s~2/message_200_user_audio.opus',
        // An id that is a valid name is its folder's name, whatever its script.
        'görüşme 1/会话 (2)/message_110_agent_tts.opus',
        // Composed and decomposed é: ids are taken in byte order, so the decomposed one comes first.
        'cafe\u0301/session_/message_112_agent_tts.opus',
        'caf\u00e9~2/session_/message_111_agent_tts.opus',
      ]),
    );
    for (const name of names) {
      for (const segment of name.split('/')) {
        expect(Buffer.byteLength(segment), name.slice(0, 40)).toBeLessThanOrEqual(255);
        expect(segment, name.slice(0, 40)).not.toMatch(/^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i);
        expect(segment, name.slice(0, 40)).not.toMatch(/[. ]$/);
      }
    }
    expect(new Set(names.map((name) => name.normalize('NFC').toLowerCase())).size).toBe(names.length);
    expect(names.filter((name) => name.toLowerCase() === 'metadata.json')).toEqual(['metadata.json']);

    // metadata.json keeps the real ids and maps each file to its entry.
    const metadata = parseArchiveMetadata(metadataText);
    expect(metadata.sessions.map((session) => [session.externalConversationId, session.sessionId])).toEqual([
      ['ABC', 'session '],
      ['CON', 'session '],
      ['abc', 'session '],
      ['cafe\u0301', 'session '],
      ['caf\u00e9', 'session '],
      ['görüşme 1', '会话 (2)'],
      ['metadata.json', 'session '],
      ['nul.txt', 'session '],
      ['ok', 'S'],
      ['ok', 's'],
      ['trailingdot.', 'session '],
      [huge, 'session '],
      [`${'y'.repeat(300)}A`, 'session '],
      [`${'y'.repeat(300)}B`, 'session '],
    ]);
    const files = metadata.sessions.flatMap((session) => session.files);
    expect(files.filter((file) => file.path === null).map((file) => [file.messageId, file.status])).toEqual([['202', 'missing']]);
    const paths = files.flatMap((file) => (file.path === null ? [] : [file.path]));
    expect([...paths, 'metadata.json'].sort()).toEqual([...names].sort());
    for (const file of files) if (file.path) expect(file.path.endsWith(`/${file.fileName}`)).toBe(true);

    // What an integrator's unzip makes of it: every file arrives, and metadata.json is the real one.
    const out = join(zip.directory, 'extracted');
    await run('unzip', ['-q', join(zip.directory, 'archive.zip'), '-d', out]);
    expect((await filesUnder(out)).sort()).toEqual([...names].sort());
    for (const entry of zip.entries) expect((await readFile(join(out, entry.name))).equals(entry.content), entry.name.slice(0, 40)).toBe(true);
    expect(parseArchiveMetadata(await readFile(join(out, 'metadata.json'), 'utf8'))).toEqual(metadata);
  });
});
