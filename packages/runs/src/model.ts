import type { RunScope } from '@dcar/archives';
import type { StatusCounts } from '@dcar/domain';
import type { Knex, Logger } from '@dcar/platform';
import type { RunQueues } from './queues.js';

export interface RunEngineDeps {
  db: Knex;
  queues: RunQueues;
  logger: Logger;
  now: () => Date;
}

export type RunTrigger = 'nightly' | 'manual';

/** `queued`: recorded, round 1 not yet added; `failed`: a round could not be enqueued at all. */
export type RunState = 'queued' | 'running' | 'completed' | 'completed_with_failures' | 'failed';

/** A round as recorded on the run: `jobs` and `failed` are known once the round is over. */
export interface RoundRecord {
  round: number;
  jobs: number | null;
  failed: number | null;
  startedAt: string;
  finishedAt: string | null;
}

/** The spec's "retry up to two additional times": three rounds in all. */
export const MAX_ROUNDS = 3;

export interface RunRow {
  id: string;
  utc_day: string;
  trigger: RunTrigger;
  force: boolean;
  requested_tenant_ids: string[] | null;
  tenant_ids: string[];
  state: RunState;
  round: number;
  tenant_count: number;
  job_count: number;
  counts: Partial<StatusCounts>;
  rounds: RoundRecord[];
  started_at: Date;
  finished_at: Date | null;
}

/** The tenant-hours a run covers: its tenants on its day. */
export function runScope(run: Pick<RunRow, 'utc_day' | 'tenant_ids'>): RunScope {
  return { utcDay: run.utc_day, tenantIds: run.tenant_ids };
}
