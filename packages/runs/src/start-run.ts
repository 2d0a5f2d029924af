import { randomBytes } from 'node:crypto';
import {
  ContractMessages,
  RUN_NOT_QUEUED_MESSAGE,
  UserFacingError,
  isUnfinishedUtcDay,
  isValidTenantId,
  oldestDayWithinRetention,
  parseUtcDay,
  type UtcDay,
} from '@dcar/domain';
import { findTenantFeatures, listEnabledTenants } from '@dcar/host';
import type { RunEngineDeps, RunRow, RunTrigger } from './model.js';
import { addRoundFlow } from './rounds.js';

export interface StartRunInput {
  utcDay: string;
  tenantIds?: string[];
  force?: boolean;
  trigger: RunTrigger;
}

/** The nightly run of a day has one id, so replicas and retried triggers all land on the same run. */
export function nightlyRunId(day: UtcDay): string {
  return `nightly-${day}`;
}

function manualRunId(day: UtcDay): string {
  return `manual-${day}-${randomBytes(6).toString('hex')}`;
}

async function resolveTenants(deps: RunEngineDeps, day: UtcDay, requested: string[] | undefined): Promise<string[]> {
  const now = deps.now();
  if (requested === undefined) {
    const enabled = await listEnabledTenants(deps.db);
    const covered = enabled.filter((t) => day >= oldestDayWithinRetention(now, t.retentionDays));
    if (enabled.length > 0 && covered.length === 0) {
      throw new UserFacingError(400, `utcDay ${day} is older than the retention period of every enabled tenant`);
    }
    return covered.map((t) => t.tenantId);
  }

  if (requested.length === 0) throw new UserFacingError(400, 'tenantIds must not be empty; omit it to run every enabled tenant');
  const unique = [...new Set(requested)];
  const invalid = unique.find((id) => typeof id !== 'string' || !isValidTenantId(id));
  if (invalid !== undefined) throw new UserFacingError(400, `tenant id ${JSON.stringify(invalid)} is not a valid tenant id`);
  const byId = new Map((await findTenantFeatures(deps.db, unique)).map((tenant) => [tenant.tenantId, tenant]));
  for (const id of unique) {
    const tenant = byId.get(id);
    if (!tenant) throw new UserFacingError(404, `tenant ${id} not found`);
    if (!tenant.enabled) throw new UserFacingError(400, `the daily audio recordings feature is not enabled for tenant ${id}`);
    const oldest = oldestDayWithinRetention(now, tenant.retentionDays);
    if (day < oldest) {
      throw new UserFacingError(
        400,
        `utcDay ${day} is older than tenant ${id}'s retention of ${tenant.retentionDays} day(s): the oldest day that can be generated is ${oldest}`,
      );
    }
  }
  return unique.sort();
}

/**
 * Records a run for a past day and adds its round 1. The nightly run of a day is created once: a
 * second call finds it (created: false) and only re-adds round 1 if the first call died before doing so.
 */
export async function startRun(deps: RunEngineDeps, input: StartRunInput): Promise<{ runId: string; created: boolean }> {
  const day = parseUtcDay(input.utcDay);
  if (!day) throw new UserFacingError(400, ContractMessages.invalidDay);
  if (isUnfinishedUtcDay(day, deps.now())) throw new UserFacingError(400, `utcDay must be a past day: ${day} has not ended yet`);
  const force = input.force ?? false;
  const tenantIds = await resolveTenants(deps, day, input.tenantIds);

  const runId = input.trigger === 'nightly' ? nightlyRunId(day) : manualRunId(day);
  const inserted = await deps
    .db('archive_runs')
    .insert({
      id: runId,
      utc_day: day,
      trigger: input.trigger,
      force,
      requested_tenant_ids: input.tenantIds === undefined ? null : tenantIds,
      tenant_ids: tenantIds,
      state: 'queued',
      round: 0,
      tenant_count: tenantIds.length,
      started_at: deps.now(),
    })
    .onConflict('id')
    .ignore()
    .returning('id');
  const created = inserted.length > 0;

  const run: Pick<RunRow, 'state'> | undefined = await deps.db('archive_runs').where({ id: runId }).first('state');
  if (run?.state === 'queued') {
    try {
      await addRoundFlow(deps.queues, runId, 1);
    } catch (error) {
      deps.logger.error({ err: (error as Error).message, runId, utcDay: day, trigger: input.trigger }, 'could not queue the run');
      // A manual run nobody will queue again is not left `queued` for good: it failed. The nightly
      // run stays queued, as its trigger job is retried and then adds round 1 itself.
      if (input.trigger === 'manual') {
        await deps.db('archive_runs').where({ id: runId, state: 'queued' }).update({ state: 'failed', finished_at: deps.now() });
        throw new UserFacingError(503, RUN_NOT_QUEUED_MESSAGE);
      }
      throw error;
    }
  }
  deps.logger.info(
    { runId, utcDay: day, trigger: input.trigger, force, tenantCount: tenantIds.length, created },
    created ? 'run started' : 'run already exists',
  );
  return { runId, created };
}
