import { Counter, Histogram, type Registry } from 'prom-client';

export interface WorkerMetrics {
  files: Counter<'status'>;
  sourceBytes: Counter;
  archiveBytes: Counter;
  audioSeconds: Counter;
  ffmpegProcesses: Counter;
  transcodeSeconds: Histogram;
  jobSeconds: Histogram<'outcome'>;
  jobs: Counter<'outcome'>;
}

/** The worker's own series, registered on the service registry that `serveMetrics` exposes. */
export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  const registers = [registry];
  return {
    files: new Counter({
      name: 'dcar_worker_files_total',
      help: 'Source files archived, by outcome (converted, missing, unconvertible)',
      labelNames: ['status'],
      registers,
    }),
    sourceBytes: new Counter({ name: 'dcar_worker_source_bytes_total', help: 'Bytes downloaded from the source bucket', registers }),
    archiveBytes: new Counter({ name: 'dcar_worker_archive_bytes_total', help: 'Bytes of completed ZIPs uploaded to the archive bucket', registers }),
    audioSeconds: new Counter({ name: 'dcar_worker_audio_seconds_total', help: 'Seconds of audio encoded to Opus', registers }),
    ffmpegProcesses: new Counter({ name: 'dcar_worker_ffmpeg_processes_total', help: 'ffmpeg processes started (batches plus per-file fallbacks)', registers }),
    transcodeSeconds: new Histogram({
      name: 'dcar_worker_transcode_seconds',
      help: 'Wall time of one transcode batch (one ffmpeg process with its fallbacks)',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers,
    }),
    jobSeconds: new Histogram({
      name: 'dcar_worker_job_seconds',
      help: 'Wall time of tenant-hour jobs, by outcome',
      labelNames: ['outcome'],
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    }),
    jobs: new Counter({
      name: 'dcar_worker_jobs_total',
      help: 'Tenant-hour jobs finished, by outcome (available, no_data, skipped, failed, interrupted)',
      labelNames: ['outcome'],
      registers,
    }),
  };
}
