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

/** Outcomes of a tenant-hour job, and of a source file in it: every one is a series at 0 from the start. */
export const JOB_OUTCOMES = ['available', 'no_data', 'skipped', 'failed', 'interrupted'] as const;
export const FILE_STATUSES = ['converted', 'missing', 'unconvertible'] as const;

/**
 * The worker's own series, registered on the service registry that `serveMetrics` exposes. Every
 * labelled series exists at 0 before its first event, so `rate()` and alerts see a change from 0
 * instead of a series appearing out of nothing.
 */
export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  const registers = [registry];
  const metrics: WorkerMetrics = {
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
  for (const outcome of JOB_OUTCOMES) {
    metrics.jobs.inc({ outcome }, 0);
    metrics.jobSeconds.zero({ outcome });
  }
  for (const status of FILE_STATUSES) metrics.files.inc({ status }, 0);
  return metrics;
}
