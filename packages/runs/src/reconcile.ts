import { randomBytes } from 'node:crypto';
import { compareWithFingerprints, type ReconciliationScope } from '@dcar/archives';
import {
  ContractMessages,
  UserFacingError,
  formatHour,
  isUnfinishedUtcDay,
  isValidTenantId,
  oldestDayWithinRetention,
  parseUtcDay,
  previousUtcDay,
  type UtcDay,
} from '@dcar/domain';
import { findTenantFeatures, listEnabledTenants } from '@dcar/host';
import type { Knex } from '@dcar/platform';
import type { RunEngineDeps, RunRow } from './model.js';
import { addRoundFlow } from './rounds.js';
import { dayHourKey, hoursOfUnfinishedReconcileRuns, insertReconcileRunHours, type ReconcileRunHour } from './run-hours.js';

export interface ReconcileInput {
  /** Only this past day (else every past day within each tenant's retention). */
  utcDay?: string;
  /** Only this tenant (else every enabled tenant). */
  tenantId?: string;
  trigger: 'scheduled' | 'manual';
  /** A scheduled pass: the instant it was due, which names its run (a retried job finds the same run). */
  scheduledAt?: Date;
}

export interface ReconciledHour {
  tenantId: string;
  utcDay: string;
  hour: string;
}

/** What a pass found (CONTRACT §3.3's JSON, plus the failed hours it retries). */
export interface ReconcileResult {
  checkedHours: number;
  changedHours: ReconciledHour[];
  retriedHours: ReconciledHour[];
  /** The run regenerating them; null when there was nothing to regenerate. */
  runId: string | null;
}

// Any fixed 64-bit number: one pass compares and records its run at a time, on every replica and CLI.
const RECONCILIATION_LOCK = 7_302_114_913;

/** A scheduled pass's run: `reconcile-20251213T024500Z`, from the instant it was due. */
export function scheduledReconcileRunId(scheduledAt: Date): string {
  return `reconcile-${scheduledAt.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
}

async function scopeOf(deps: RunEngineDeps, input: ReconcileInput): Promise<ReconciliationScope[]> {
  const now = deps.now();
  let day: UtcDay | null = null;
  if (input.utcDay !== undefined) {
    day = parseUtcDay(input.utcDay);
    if (!day) throw new UserFacingError(400, ContractMessages.invalidDay);
    if (isUnfinishedUtcDay(day, now)) throw new UserFacingError(400, `utcDay must be a past day: ${day} has not ended yet`);
  }
  let tenants;
  if (input.tenantId !== undefined) {
    if (!isValidTenantId(input.tenantId)) throw new UserFacingError(400, `tenant id ${JSON.stringify(input.tenantId)} is not a valid tenant id`);
    const [tenant] = await findTenantFeatures(deps.db, [input.tenantId]);
    if (!tenant) throw new UserFacingError(404, `tenant ${input.tenantId} not found`);
    if (!tenant.enabled) throw new UserFacingError(400, `the daily audio recordings feature is not enabled for tenant ${input.tenantId}`);
    const oldest = oldestDayWithinRetention(now, tenant.retentionDays);
    if (day && day < oldest) {
      throw new UserFacingError(
        400,
        `utcDay ${day} is older than tenant ${tenant.tenantId}'s retention of ${tenant.retentionDays} day(s): the oldest day that can be reconciled is ${oldest}`,
      );
    }
    tenants = [tenant];
  } else {
    tenants = await listEnabledTenants(deps.db);
  }
  const yesterday = previousUtcDay(now);
  const scope: ReconciliationScope[] = [];
  for (const tenant of tenants) {
    // Days past the retention are never regenerated: their archives are gone or about to go.
    let firstDay = oldestDayWithinRetention(now, tenant.retentionDays);
    let lastDay = yesterday;
    if (day) {
      if (day < firstDay) continue;
      firstDay = day;
      lastDay = day;
    }
    if (firstDay <= lastDay) scope.push({ tenantId: tenant.tenantId, firstDay, lastDay, retentionDays: tenant.retentionDays });
  }
  return scope;
}

function reported(hours: readonly ReconcileRunHour[], reason: ReconcileRunHour['reason']): ReconciledHour[] {
  return hours.filter((h) => h.reason === reason).map((h) => ({ tenantId: h.tenantId, utcDay: h.utcDay, hour: formatHour(h.hour) }));
}

/**
 * A reconciliation pass (CONTRACT §3.3): compares every archived hour of the enabled tenants' past
 * days within retention with its source rows as they are now (a few indexed queries: no audio is
 * read, the store is not listed), and records one run of kind `reconcile` with the hours whose
 * rows changed and the hours that failed. The run goes through the same rounds, workers and retries
 * as a day's run. Hours already in an unfinished reconciliation run are left to it, so overlapping
 * passes never queue an hour twice; a worker still skips an hour that turns out unchanged.
 */
export async function reconcile(deps: RunEngineDeps, input: ReconcileInput): Promise<ReconcileResult> {
  const scope = await scopeOf(deps, input);
  const started = performance.now();
  const { result, queueRound } = await deps.db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [RECONCILIATION_LOCK]);
    const comparison = await compareWithFingerprints(trx, scope, deps.now());
    const inFlight = comparison.candidates.length > 0 ? await hoursOfUnfinishedReconcileRuns(trx) : new Set<string>();
    const hours: ReconcileRunHour[] = comparison.candidates
      .map((c) => ({ tenantId: c.tenantId, utcDay: c.utcDay, hour: c.hour, reason: c.reason }))
      .filter((h) => !inFlight.has(dayHourKey(h)));
    const runId = await recordRun(trx, deps, input, scope, hours);
    return {
      result: {
        checkedHours: comparison.checkedHours,
        changedHours: reported(hours, 'changed'),
        retriedHours: reported(hours, 'failed'),
        runId: runId?.id ?? null,
      },
      queueRound: runId?.queued ?? false,
    };
  });
  if (result.runId && queueRound) await addRoundFlow(deps.queues, result.runId, 1);
  deps.logger.info(
    {
      runId: result.runId,
      trigger: input.trigger,
      tenants: scope.length,
      checkedHours: result.checkedHours,
      changedHours: result.changedHours.length,
      retriedHours: result.retriedHours.length,
      seconds: (performance.now() - started) / 1000,
    },
    'reconciliation pass done',
  );
  return result;
}

/** Records the pass's run and its hours; a scheduled pass retried after a crash finds its run again. */
async function recordRun(
  trx: Knex.Transaction,
  deps: RunEngineDeps,
  input: ReconcileInput,
  scope: readonly ReconciliationScope[],
  hours: readonly ReconcileRunHour[],
): Promise<{ id: string; queued: boolean } | null> {
  const id = input.scheduledAt ? scheduledReconcileRunId(input.scheduledAt) : `reconcile-manual-${randomBytes(6).toString('hex')}`;
  const existing: Pick<RunRow, 'state'> | undefined = await trx('archive_runs').where({ id }).first('state');
  if (existing) return { id, queued: existing.state === 'queued' };
  if (hours.length === 0) return null;
  const tenantIds = [...new Set(hours.map((h) => h.tenantId))].sort();
  const newestDay = scope.reduce((newest, s) => (s.lastDay > newest ? s.lastDay : newest), scope[0]!.lastDay);
  await trx('archive_runs').insert({
    id,
    kind: 'reconcile',
    utc_day: newestDay,
    trigger: input.trigger,
    force: false,
    requested_tenant_ids: input.tenantId === undefined ? null : [input.tenantId],
    tenant_ids: tenantIds,
    state: 'queued',
    round: 0,
    tenant_count: tenantIds.length,
    started_at: deps.now(),
  });
  await insertReconcileRunHours(trx, id, hours);
  return { id, queued: true };
}
