import type { ArchiveRunJobs, MaintenanceJobs } from '@dcar/platform';
import type { Job } from 'bullmq';
import { processNightly, processReconcile, processRetention, type ReconcileListener, type RetentionDeps } from './maintenance.js';
import type { RoundEngineDeps, RunEngineDeps } from './model.js';
import { processEnqueueRound, processRoundComplete } from './rounds.js';

/** The `archive-run` queue's processor: a round's enqueue step and its completion. */
export async function processArchiveRunJob(deps: RoundEngineDeps, job: Job): Promise<unknown> {
  switch (job.name) {
    case 'enqueue-round':
      return processEnqueueRound(deps, job as Job<ArchiveRunJobs['enqueue-round']>);
    case 'round-complete':
      return processRoundComplete(deps, job as Job<ArchiveRunJobs['round-complete']>);
    default:
      throw new Error(`unknown archive-run job ${job.name}`);
  }
}

/** The `maintenance` queue's processor: the nightly trigger and the retention clean-up. */
export async function processMaintenanceJob(
  deps: RunEngineDeps & Omit<RetentionDeps, keyof RunEngineDeps> & { onReconciled?: ReconcileListener },
  job: Job,
): Promise<unknown> {
  switch (job.name) {
    case 'nightly':
      return processNightly(deps, job as Job<MaintenanceJobs['nightly']>);
    case 'retention':
      return processRetention(deps);
    case 'reconcile':
      return processReconcile(deps, job as Job<MaintenanceJobs['reconcile']>);
    default:
      throw new Error(`unknown maintenance job ${job.name}`);
  }
}
