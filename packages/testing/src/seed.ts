import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { hourWindow, type UtcDay } from '@dcar/domain';
import type { Knex } from '@dcar/platform';
import { audioExtension, defaultSampleRate, synthesizeAudio, type AudioFormat } from './audio.js';

/** One source recording to seed: a `conversation_audio_files` row and, usually, its object. */
export interface SeedRow {
  externalConversationId: string;
  sessionId: string;
  /** A string for ids beyond 2^53 (give `seed` then: the id is the default seed otherwise). */
  messageId: number | string;
  type: string;
  recordedAt: Date;
  format: AudioFormat;
  seconds: number;
  sampleRate?: number;
  channels?: 1 | 2;
  seed?: number;
  /** Stored instead of synthesised audio: e.g. an empty or corrupt file. */
  content?: Buffer;
  /** Insert the row but upload no object (a missing source). */
  omitObject?: boolean;
  /** Overrides the `{tenantId}/project/conversations/...` key. */
  storagePath?: string;
}

export interface SeededRow extends SeedRow {
  id: number;
  tenantId: string;
  storagePath: string;
  sizeBytes: number;
  /** Hex SHA-256 of the object's bytes (of what it would have held, when `omitObject`). */
  sha256: string;
}

export function sourceStoragePath(tenantId: string, row: Pick<SeedRow, 'externalConversationId' | 'sessionId' | 'messageId' | 'type' | 'format'>): string {
  return `${tenantId}/project/conversations/${row.externalConversationId}/${row.sessionId}/${row.messageId}_${row.type}.${audioExtension(row.format)}`;
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}

/**
 * Uploads each row's audio to the source bucket and inserts the `conversation_audio_files` rows,
 * as the recording platform would. Returns the rows with their ids, keys and sizes, in input order.
 */
export async function seedConversationAudio(options: {
  knex: Knex;
  s3: S3Client;
  bucket: string;
  tenantId: string;
  rows: readonly SeedRow[];
  /** Parallel uploads; default 8. */
  concurrency?: number;
}): Promise<SeededRow[]> {
  const { knex, s3, bucket, tenantId } = options;
  const uploaded = await mapLimited(options.rows, options.concurrency ?? 8, async (row) => {
    const content =
      row.content ??
      (await synthesizeAudio({
        format: row.format,
        seconds: row.seconds,
        sampleRate: row.sampleRate ?? defaultSampleRate(row.format),
        channels: row.channels ?? 1,
        seed: row.seed ?? (typeof row.messageId === 'number' ? row.messageId : 1),
      }));
    const storagePath = row.storagePath ?? sourceStoragePath(tenantId, row);
    if (!row.omitObject) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: storagePath, Body: content, ContentLength: content.length }));
    }
    return { ...row, tenantId, storagePath, sizeBytes: content.length, sha256: createHash('sha256').update(content).digest('hex') };
  });

  const seeded: SeededRow[] = [];
  for (let start = 0; start < uploaded.length; start += 500) {
    const batch = uploaded.slice(start, start + 500);
    const ids: { id: number }[] = await knex('conversation_audio_files')
      .insert(
        batch.map((row) => ({
          tenant_id: tenantId,
          external_conversation_id: row.externalConversationId,
          session_id: row.sessionId,
          message_id: row.messageId,
          type: row.type,
          storage_path: row.storagePath,
          size_bytes: row.sizeBytes,
          recorded_at: row.recordedAt,
        })),
      )
      .returning('id');
    batch.forEach((row, index) => seeded.push({ ...row, id: Number(ids[index]?.id) }));
  }
  return seeded;
}

/** A small deterministic PRNG (mulberry32): the same seed gives the same day everywhere. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SourceProfile {
  format: AudioFormat;
  sampleRate: number;
  channels: 1 | 2;
}

// What a voice platform stores: TTS as WAV/MP3/Ogg at 16-48 kHz, callers as telephony mu-law or
// PCM at 8 kHz, or WebM/Opus from a browser.
const AGENT_PROFILES: SourceProfile[] = [
  { format: 'wav_pcm', sampleRate: 16000, channels: 1 },
  { format: 'wav_pcm', sampleRate: 48000, channels: 1 },
  { format: 'mp3', sampleRate: 22050, channels: 1 },
  { format: 'mp3', sampleRate: 44100, channels: 2 },
  { format: 'ogg_vorbis', sampleRate: 24000, channels: 1 },
];
const USER_PROFILES: SourceProfile[] = [
  { format: 'wav_mulaw', sampleRate: 8000, channels: 1 },
  { format: 'wav_pcm', sampleRate: 8000, channels: 1 },
  { format: 'webm_opus', sampleRate: 48000, channels: 1 },
  { format: 'wav_pcm', sampleRate: 48000, channels: 2 },
];

export interface RealisticHourOptions {
  utcDay: UtcDay;
  hour: number;
  /** Same seed, same rows. */
  seed?: number;
  /** Number of conversations starting in the hour; default 4-8 from the seed. */
  conversations?: number;
  /** Messages per session, inclusive range; default [4, 14]. */
  messagesPerSession?: [number, number];
  /** Clip length in whole seconds, inclusive range; default [2, 30]. */
  clipSeconds?: [number, number];
  /** First message id; ids then increase by one. Default derived from day, hour and seed. */
  firstMessageId?: number;
}

/**
 * A plausible hour of a voice-agent tenant: several conversations, each with one or two sessions of
 * alternating agent/user messages in mixed formats, every message recorded inside the hour.
 * Clip lengths are whole seconds and clip seeds come from a small set, so the synthesised audio
 * is shared between rows and seeding stays fast.
 */
export function generateRealisticHour(options: RealisticHourOptions): SeedRow[] {
  const random = seededRandom((options.seed ?? 1) * 7919 + options.hour * 104_729 + Number(options.utcDay.replaceAll('-', '')));
  const between = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)] as T;
  const [minMessages, maxMessages] = options.messagesPerSession ?? [4, 14];
  const [minSeconds, maxSeconds] = options.clipSeconds ?? [2, 30];
  const { start } = hourWindow(options.utcDay, options.hour);
  const hourMs = 3_600_000;
  const conversations = options.conversations ?? between(4, 8);
  // yymmddHH followed by a 4-digit counter: unique across hours and days.
  let messageId = options.firstMessageId ?? (Number(options.utcDay.replaceAll('-', '').slice(2)) * 100 + options.hour) * 10_000 + 1;

  const rows: SeedRow[] = [];
  for (let c = 0; c < conversations; c++) {
    const conversationId = `conv-${options.utcDay.replaceAll('-', '')}${String(options.hour).padStart(2, '0')}-${String(c + 1).padStart(3, '0')}`;
    const agent = pick(AGENT_PROFILES);
    const user = pick(USER_PROFILES);
    const sessions = random() < 0.25 ? 2 : 1;
    for (let s = 0; s < sessions; s++) {
      const sessionId = `session-${between(100_000, 999_999)}`;
      const messages = between(minMessages, maxMessages);
      let offsetMs = between(0, hourMs - 1);
      for (let m = 0; m < messages; m++) {
        const fromAgent = m % 2 === 0;
        const profile = fromAgent ? agent : user;
        const seconds = between(minSeconds, maxSeconds);
        rows.push({
          externalConversationId: conversationId,
          sessionId,
          messageId: messageId++,
          type: fromAgent ? 'agent_tts' : 'user_audio',
          recordedAt: new Date(start.getTime() + offsetMs),
          format: profile.format,
          sampleRate: profile.sampleRate,
          channels: profile.channels,
          seconds,
          seed: between(1, 3),
        });
        // Later messages never leave the hour: a conversation that would run over is cut short.
        offsetMs = Math.min(hourMs - 1, offsetMs + seconds * 1000 + between(200, 4000));
      }
    }
  }
  return rows;
}

/**
 * A plausible day: `generateRealisticHour` for each hour except a few quiet ones (night hours are
 * more often empty), so a day's run meets both `available` and `no_data` hours.
 */
export function generateRealisticDay(options: Omit<RealisticHourOptions, 'hour' | 'firstMessageId'> & { emptyHours?: number[] }): Map<number, SeedRow[]> {
  const random = seededRandom((options.seed ?? 1) * 31 + Number(options.utcDay.replaceAll('-', '')));
  const empty = new Set(options.emptyHours ?? Array.from({ length: 24 }, (_, hour) => hour).filter((hour) => random() < (hour < 6 ? 0.6 : 0.1)));
  const day = new Map<number, SeedRow[]>();
  for (let hour = 0; hour < 24; hour++) {
    day.set(hour, empty.has(hour) ? [] : generateRealisticHour({ ...options, hour }));
  }
  return day;
}
