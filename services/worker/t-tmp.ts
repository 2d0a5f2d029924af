import { parseUtcDay } from '@dcar/domain';
import { createTestEnvironment } from '@dcar/testing';
import { seedConversationAudio, type SeedRow } from '@dcar/testing/seed';
import { processorFor } from './test/helpers.js';
const env = await createTestEnvironment();
const DAY = parseUtcDay('2025-12-12')!;
const formats = ['wav_pcm', 'wav_mulaw', 'mp3', 'ogg_vorbis'] as const;
const rows: SeedRow[] = Array.from({ length: 1000 }, (_, i) => ({
  externalConversationId: `conv-${String(Math.floor(i / 50)).padStart(2, '0')}`, sessionId: `session-${Math.floor(i / 10) % 5}`,
  messageId: 100_000 + i, type: i % 2 === 0 ? 'agent_tts' : 'user_audio', recordedAt: new Date(Date.parse('2025-12-12T09:00:00Z') + i * 3000),
  format: formats[i % formats.length]!, seconds: 1, seed: (i % 3) + 1 }));
let t = Date.now();
await seedConversationAudio({ knex: env.knex, s3: env.s3, bucket: env.config.s3.sourceBucket, tenantId: 'x', rows });
console.log('seed', Date.now() - t);
for (const maxFiles of [16, 32]) {
  const { processor, metrics } = processorFor(env, { batchLimits: { maxFiles, maxBytes: 8 << 20 } });
  t = Date.now(); const c0 = process.cpuUsage();
  await processor({ runId: 'r', tenantId: 'x', utcDay: DAY, hour: 9, round: 1, force: true }, { jobId: 'j', signal: new AbortController().signal });
  const c = process.cpuUsage(c0);
  console.log('maxFiles', maxFiles, 'process', Date.now() - t, 'ms node cpu', (c.user + c.system) / 1000, 'ffmpeg procs', (await metrics.ffmpegProcesses.get()).values[0]?.value);
}
await env.close();
