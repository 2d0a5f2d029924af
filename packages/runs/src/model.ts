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

/**
 * What the round steps (`processArchiveRunJob`) need beyond the engine's common dependencies: how
 * long a retry round waits after the previous round ended (RETRY_ROUND_DELAY_SECONDS, CONTRACT §1).
 */
export interface RoundEngineDeps extends RunEngineDeps {
  retryRoundDelayMs: number;
}

export type RunTrigger = 'nightly' | 'manual' | 'scheduled';

/** `day`: every hour of its tenants on its day; `reconcile`: the hours a reconciliation pass found changed or failed, on any days. */
export type RunKind = 'day' | 'reconcile';

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
  kind: RunKind;
  /** A reconciliation run: the newest day its pass compared (each of its hours has its own day). */
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

/** A tenant-hour of a run, with its day (a reconciliation run's hours lie on several days). */
export interface DayHour {
  tenantId: string;
  utcDay: string;
  hour: number;
}

/** The tenant-hours a run covers: its tenants on its day. */
export function runScope(run: Pick<RunRow, 'utc_day' | 'tenant_ids'>): RunScope {
  return { utcDay: run.utc_day, tenantIds: run.tenant_ids };
}
