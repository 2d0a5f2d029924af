import { randomBytes } from 'node:crypto';
import { ContractMessages, DEFAULT_RETENTION_DAYS, addUtcDays, isUnfinishedUtcDay, isValidTenantId, parseUtcDay, utcDayOf, type UtcDay } from '@dcar/domain';
import { RunRequestError } from './errors.js';
import type { RunEngineDeps, RunRow, RunTrigger } from './model.js';
import { addRoundFlow } from './rounds.js';

export interface StartRunInput {
  utcDay: string;
  tenantIds?: string[];
  force?: boolean;
  trigger: RunTrigger;
}

interface TenantSettingsRow {
  id: string;
  enabled: boolean | null;
  retention_days: number | null;
}


/** The oldest day a tenant with this retention may still have generated: today - retentionDays. */
function oldestDayWithinRetention(now: Date, retentionDays: number): UtcDay {
  return addUtcDays(utcDayOf(now), -retentionDays);
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
  const query = deps.db('tenants as t')
    .leftJoin('tenant_feature_settings as f', 'f.tenant_id', 't.id')
    .select('t.id', 'f.daily_audio_recordings_enabled as enabled', 'f.retention_days')
    .orderBy('t.id');

  if (requested === undefined) {
    const enabled = (await query.where('f.daily_audio_recordings_enabled', true)) as TenantSettingsRow[];
    const covered = enabled.filter((t) => day >= oldestDayWithinRetention(now, t.retention_days ?? DEFAULT_RETENTION_DAYS));
    if (enabled.length > 0 && covered.length === 0) {
      throw new RunRequestError(400, `utcDay ${day} is older than the retention period of every enabled tenant`);
    }
    return covered.map((t) => t.id);
  }

  if (requested.length === 0) throw new RunRequestError(400, 'tenantIds must not be empty; omit it to run every enabled tenant');
  const unique = [...new Set(requested)];
  const invalid = unique.find((id) => typeof id !== 'string' || !isValidTenantId(id));
  if (invalid !== undefined) throw new RunRequestError(400, `tenant id ${JSON.stringify(invalid)} is not a valid tenant id`);
  const rows = (await query.whereIn('t.id', unique)) as TenantSettingsRow[];
  const byId = new Map(rows.map((row) => [row.id, row]));
  for (const id of unique) {
    const tenant = byId.get(id);
    if (!tenant) throw new RunRequestError(404, `tenant ${id} not found`);
    if (!tenant.enabled) throw new RunRequestError(400, `the daily audio recordings feature is not enabled for tenant ${id}`);
    const retentionDays = tenant.retention_days ?? DEFAULT_RETENTION_DAYS;
    const oldest = oldestDayWithinRetention(now, retentionDays);
    if (day < oldest) {
      throw new RunRequestError(
        400,
        `utcDay ${day} is older than tenant ${id}'s retention of ${retentionDays} day(s): the oldest day that can be generated is ${oldest}`,
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
  if (!day) throw new RunRequestError(400, ContractMessages.invalidDay);
  if (isUnfinishedUtcDay(day, deps.now())) throw new RunRequestError(400, `utcDay must be a past day: ${day} has not ended yet`);
  const force = input.force ?? false;
  const tenantIds = await resolveTenants(deps, day, input.tenantIds);

  const runId = input.trigger === 'nightly' ? nightlyRunId(day) : manualRunId(day);
  const inserted = await deps.db('archive_runs')
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

  const run = (await deps.db('archive_runs').where({ id: runId }).first('state')) as Pick<RunRow, 'state'> | undefined;
  if (run?.state === 'queued') await addRoundFlow(deps.queues, runId, 1);
  deps.logger.info({ runId, utcDay: day, trigger: input.trigger, force, tenantCount: tenantIds.length, created }, created ? 'run started' : 'run already exists');
  return { runId, created };
}
