/**
 * `pnpm bench:worker`: a realistic tenant-hour through the worker process, side by side in the same
 * run with (a) plain ffmpeg, one process per clip from local disk, at the worker's parallelism and
 * (b) one ffmpeg decoding and encoding all clips concatenated (the encoder's limit). Prints audio
 * seconds per CPU second (process plus ffmpeg children), files per second, wall time and the worker
 * process' peak RSS. Figures only: nothing is asserted.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { findArchiveRow } from '@dcar/archives/test-fixtures';
import { parseUtcDay } from '@dcar/domain';
import { archiveHourJobId, createRedisConnection, QueueNames, type ArchiveHourJobData } from '@dcar/platform';
import { createTestEnvironment, REPOSITORY_ROOT, sourceCommand, waitFor } from '@dcar/testing';
import { audioExtension, defaultSampleRate, synthesizeAudio } from '@dcar/testing/audio';
import { generateRealisticHour, seedConversationAudio, type SeedRow } from '@dcar/testing/seed';
import { Queue } from 'bullmq';
import { OPUS_OUTPUT_ARGS } from '../src/transcoder.js';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const MIN_CLIPS = Number(process.env.BENCH_CLIPS ?? 300);
const PARALLELISM = Number(process.env.TRANSCODE_CONCURRENCY ?? availableParallelism());
const DAY = parseUtcDay('2025-12-12')!;
const HOUR = 14;
const TENANT = 'tenant-bench';

/** CPU seconds of a process itself and of the children it has waited for (Linux /proc). */
async function cpuSeconds(pid: number | 'self'): Promise<{ own: number; children: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields 14-17 of stat(5) (utime, stime, cutime, cstime) are 11-14 after the command name.
  const fields = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return { own: ((fields[11] ?? 0) + (fields[12] ?? 0)) / CLOCK_TICKS, children: ((fields[13] ?? 0) + (fields[14] ?? 0)) / CLOCK_TICKS };
}

async function childrenCpuSeconds(): Promise<number> {
  return (await cpuSeconds('self')).children;
}

async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : NaN;
}

function ffmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-1000);
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited with ${code}: ${stderr}`))));
  });
}

interface Figures {
  name: string;
  wallSeconds: number;
  cpuSeconds: number;
  files: number;
  audioSeconds: number;
  peakRssMb?: number;
}

function realisticHour(): SeedRow[] {
  for (let conversations = 24; ; conversations += 4) {
    const rows = generateRealisticHour({ utcDay: DAY, hour: HOUR, seed: 42, conversations });
    if (rows.length >= MIN_CLIPS) return rows;
  }
}

async function main(): Promise<void> {
  const env = await createTestEnvironment({
    LOG_LEVEL: 'info',
    WORKER_METRICS_PORT: '0',
    WORKER_CONCURRENCY: '1',
    TRANSCODE_CONCURRENCY: String(PARALLELISM),
  });
  const scratch = await mkdtemp(join(tmpdir(), 'dcar-bench-'));
  const connection = createRedisConnection(env.config.redis.url, 'producer');
  const queue = new Queue(QueueNames.archiveHour, { connection, prefix: env.config.redis.prefix });
  try {
    const rows = realisticHour();
    const audioSeconds = rows.reduce((sum, row) => sum + row.seconds, 0);
    const formats = new Map<string, number>();
    for (const row of rows) formats.set(row.format, (formats.get(row.format) ?? 0) + 1);
    process.stdout.write(
      `Worker benchmark: ${rows.length} clips of ${Math.min(...rows.map((r) => r.seconds))}-${Math.max(...rows.map((r) => r.seconds))} s, ` +
        `${(audioSeconds / 60).toFixed(1)} min of audio (${[...formats].map(([f, n]) => `${f} ${n}`).join(', ')}), parallelism ${PARALLELISM}\n` +
        'Seeding the source store...\n',
    );
    await seedConversationAudio({ knex: env.knex, s3: env.s3, bucket: env.config.s3.sourceBucket, tenantId: TENANT, rows });

    // The same clips on local disk for the plain-ffmpeg baselines.
    const inputs = join(scratch, 'in');
    const outputs = join(scratch, 'out');
    await mkdir(inputs);
    await mkdir(outputs);
    const paths: string[] = [];
    for (const [index, row] of rows.entries()) {
      const clip = await synthesizeAudio({
        format: row.format,
        seconds: row.seconds,
        sampleRate: row.sampleRate ?? defaultSampleRate(row.format),
        channels: row.channels ?? 1,
        seed: row.seed ?? Number(row.messageId),
      });
      const path = join(inputs, `${index}.${audioExtension(row.format)}`);
      await writeFile(path, clip);
      paths.push(path);
    }

    const results: Figures[] = [];

    // (a) one ffmpeg per clip, PARALLELISM at a time.
    {
      const cpuBefore = await childrenCpuSeconds();
      const started = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: PARALLELISM }, async () => {
          while (next < paths.length) {
            const index = next++;
            await ffmpeg([
              '-nostdin',
              '-hide_banner',
              '-loglevel',
              'error',
              '-y',
              '-i',
              paths[index]!,
              '-map',
              '0:a:0',
              ...OPUS_OUTPUT_ARGS,
              join(outputs, `a-${index}.opus`),
            ]);
          }
        }),
      );
      results.push({
        name: '(a) ffmpeg per clip, local disk',
        wallSeconds: (performance.now() - started) / 1000,
        cpuSeconds: (await childrenCpuSeconds()) - cpuBefore,
        files: paths.length,
        audioSeconds,
      });
    }

    // (b) one ffmpeg: every clip decoded, resampled to one format, concatenated and encoded once.
    {
      const filter =
        paths.map((_, index) => `[${index}:a:0]aresample=48000,aformat=sample_fmts=s16:channel_layouts=mono[a${index}]`).join(';') +
        `;${paths.map((_, index) => `[a${index}]`).join('')}concat=n=${paths.length}:v=0:a=1[all]`;
      const filterPath = join(scratch, 'concat.filter');
      await writeFile(filterPath, filter);
      const cpuBefore = await childrenCpuSeconds();
      const started = performance.now();
      await ffmpeg([
        '-nostdin',
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        ...paths.flatMap((path) => ['-i', path]),
        '-filter_complex_script',
        filterPath,
        '-map',
        '[all]',
        ...OPUS_OUTPUT_ARGS,
        join(outputs, 'all.opus'),
      ]);
      results.push({
        name: '(b) one ffmpeg, all clips concatenated',
        wallSeconds: (performance.now() - started) / 1000,
        cpuSeconds: (await childrenCpuSeconds()) - cpuBefore,
        files: paths.length,
        audioSeconds,
      });
    }

    // The worker as deployed: its own process, sources in the S3 store, ZIP uploaded back.
    {
      const { command, args } = sourceCommand('worker');
      const child = spawn(command, args, {
        cwd: REPOSITORY_ROOT,
        env: { PATH: process.env.PATH ?? '', ...env.env },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      const pid = child.pid!;
      await waitFor(() => (output.includes('"worker started"') ? true : undefined), { timeoutMs: 30_000, what: 'the worker to start' });
      const data: ArchiveHourJobData = { runId: 'bench', tenantId: TENANT, utcDay: DAY, hour: HOUR, round: 1, force: true };
      const cpuBefore = await cpuSeconds(pid);
      const started = performance.now();
      await queue.add(QueueNames.archiveHour, data, { jobId: archiveHourJobId(data), attempts: 1 });
      const row = await waitFor(
        async () => {
          const found = await findArchiveRow(env.knex, { tenantId: TENANT, utcDay: DAY, hour: HOUR });
          return found?.status === 'available' ? found : undefined;
        },
        { timeoutMs: 600_000, intervalMs: 20, what: 'the worker to archive the hour' },
      );
      const wallSeconds = (performance.now() - started) / 1000;
      const cpuAfter = await cpuSeconds(pid);
      const own = cpuAfter.own - cpuBefore.own;
      const children = cpuAfter.children - cpuBefore.children;
      const cpu = own + children;
      const rss = await peakRssMb(pid);
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      results.push({ name: 'worker (S3 in, ZIP to S3)', wallSeconds, cpuSeconds: cpu, files: Number(row.file_count), audioSeconds, peakRssMb: rss });
      process.stdout.write(
        `Worker ZIP: ${(Number(row.size_bytes) / 1e6).toFixed(1)} MB, ${row.file_count} files, ${row.session_count} sessions; ` +
          `CPU: ${own.toFixed(2)} s in the worker process, ${children.toFixed(2)} s in its ffmpeg children\n`,
      );
    }

    process.stdout.write('\n');
    const table = results.map((r) => ({
      run: r.name,
      'wall s': r.wallSeconds.toFixed(2),
      'CPU s': r.cpuSeconds.toFixed(2),
      'audio s / CPU s': (r.audioSeconds / r.cpuSeconds).toFixed(1),
      'audio s / wall s': (r.audioSeconds / r.wallSeconds).toFixed(1),
      'files / s': (r.files / r.wallSeconds).toFixed(1),
      'peak RSS MB': r.peakRssMb === undefined ? '' : r.peakRssMb.toFixed(0),
    }));
    console.table(table);
    const [perClip, concatenated, worker] = results as [Figures, Figures, Figures];
    const efficiency = (f: Figures) => f.audioSeconds / f.cpuSeconds;
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
    process.stdout.write(
      [
        `worker vs (a), audio s per CPU s: ${ratio(efficiency(worker), efficiency(perClip))} (goal >= 1.0x); by wall time: ${ratio(perClip.wallSeconds, worker.wallSeconds)}`,
        `worker vs (b), audio s per CPU s: ${ratio(efficiency(worker), efficiency(concatenated))} (goal >= 0.8x)`,
        `worker peak RSS: ${worker.peakRssMb?.toFixed(0)} MB (goal < 300 MB)`,
        '',
      ].join('\n'),
    );
  } finally {
    await queue.close();
    connection.disconnect();
    await rm(scratch, { recursive: true, force: true });
    await env.close();
  }
}

await main();
