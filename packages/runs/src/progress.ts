import { UserFacingError, ContractMessages, parseUtcDay } from '@dcar/domain';
import { roundParentJobId, type Knex } from '@dcar/platform';
import { Job } from 'bullmq';
import type { RunQueues } from './queues.js';
import type { RoundRecord, RunRow, RunState } from './model.js';
import { summarizeRun, type RunSummary } from './report.js';

export const RUN_LIST_DEFAULT_LIMIT = 50;
export const RUN_LIST_MAX_LIMIT = 500;

/** Runs, newest first: of one UTC day when `utcDay` is given, at most `limit` (default 50, at most 500). */
export async function listRuns(db: Knex, input: { utcDay?: string; limit?: number } = {}): Promise<RunSummary[]> {
  const limit = input.limit ?? RUN_LIST_DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > RUN_LIST_MAX_LIMIT)
    throw new UserFacingError(400, `limit must be an integer from 1 to ${RUN_LIST_MAX_LIMIT}`);
  const query = db('archive_runs')
    .orderBy([
      { column: 'started_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit);
  if (input.utcDay !== undefined) {
    const day = parseUtcDay(input.utcDay);
    if (!day) throw new UserFacingError(400, ContractMessages.invalidDay);
    query.where({ utc_day: day });
  }
  const rows = (await query) as RunRow[];
  return rows.map(summarizeRun);
}

/** A round's tenant-hour jobs: `total` is null while the round is still being enqueued. */
export interface RoundProgress {
  round: number;
  total: number | null;
  done: number;
  failed: number;
  finished: boolean;
}

export interface RunProgress {
  runId: string;
  utcDay: string;
  state: RunState;
  finishedAt: string | null;
  rounds: RoundProgress[];
}

/**
 * Where a run stands, round by round: finished rounds as recorded on the run, the current one live
 * from its BullMQ parent (completed children are done, failed ones are kept as ignored dependencies;
 * the round's enqueue step is a child too and is not counted).
 */
export async function getRunProgress(deps: { db: Knex; queues: RunQueues }, runId: string): Promise<RunProgress | null> {
  const run = (await deps.db('archive_runs').where({ id: runId }).first()) as RunRow | undefined;
  if (!run) return null;
  const rounds: RoundProgress[] = [];
  for (const record of run.rounds) {
    if (record.finishedAt !== null) {
      const total = record.jobs ?? 0;
      const failed = record.failed ?? 0;
      rounds.push({ round: record.round, total, done: total - failed, failed, finished: true });
      continue;
    }
    rounds.push({ round: record.round, total: record.jobs, ...(await liveCounts(deps.queues, runId, record)), finished: false });
  }
  return { runId: run.id, utcDay: run.utc_day, state: run.state, finishedAt: run.finished_at ? run.finished_at.toISOString() : null, rounds };
}

async function liveCounts(queues: RunQueues, runId: string, record: RoundRecord): Promise<{ done: number; failed: number }> {
  const parent = await Job.fromId(queues.archiveRun, roundParentJobId(runId, record.round));
  if (!parent) return { done: 0, failed: 0 };
  const counts = await parent.getDependenciesCount({ processed: true, ignored: true });
  // Once the round's size is recorded its enqueue step has completed, and is one of the processed children.
  const enqueueStep = record.jobs === null ? 0 : 1;
  return { done: Math.max(0, (counts.processed ?? 0) - enqueueStep), failed: counts.ignored ?? 0 };
}

/** Consumers of the run engine's queues, for telling an operator why nothing moves. */
export async function countQueueConsumers(queues: RunQueues): Promise<{ archiveRun: number; archiveHour: number }> {
  const [archiveRun, archiveHour] = await Promise.all([queues.archiveRun.getWorkersCount(), queues.archiveHour.getWorkersCount()]);
  return { archiveRun, archiveHour };
}
