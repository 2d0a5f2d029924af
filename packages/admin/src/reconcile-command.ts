import { reconcile } from '@dcar/runs';
import { parseCommandArgs, type Command } from './cli.js';
import { WAIT_FLAG_DETAILS, WAIT_FLAGS, waitOptions, watchRun, withRunQueues } from './run-command.js';

/**
 * `pnpm admin reconcile [--day D] [--tenant id] [--wait]`: a reconciliation pass now (CONTRACT §3.3).
 * Prints `{ checkedHours, changedHours, retriedHours, runId }`; with --wait, once the run has finished,
 * with its state, exiting 0 only when every regenerated hour succeeded. The wait is `run --wait`'s:
 * it warns when nothing moves (no scheduler or worker) and has an optional bound, `--timeout`.
 */
export const reconcileCommand: Command = {
  usage: 'reconcile [--day <utcDay>] [--tenant <tenantId>] [--wait [--timeout <seconds>] [--stall-warning <seconds>]]',
  summary: 'a reconciliation pass now: regenerate the archived hours whose source rows changed, retry failed ones',
  details: [
    "Compares every archived hour of the enabled tenants' past days within retention (or of --day, --tenant)",
    'with its source rows, and regenerates those that changed and those that failed, as one run;',
    'prints {"checkedHours", "changedHours", "retriedHours", "runId"} (runId null when nothing changed).',
    '',
    '  --wait                     follow the run until it finishes, adding its "state" and "failedHours";',
    '                             exit 1 if an hour failed',
    ...WAIT_FLAG_DETAILS,
  ].join('\n'),
  async run(ctx, args) {
    const { db, logger, now } = ctx;
    const { values } = parseCommandArgs(args, { day: { type: 'string' }, tenant: { type: 'string' }, ...WAIT_FLAGS }, 0);
    const watch = waitOptions(values);
    return withRunQueues(ctx, async (queues) => {
      const result = await reconcile(
        { db, queues, logger, now },
        { trigger: 'manual', ...(values.day !== undefined ? { utcDay: values.day } : {}), ...(values.tenant !== undefined ? { tenantId: values.tenant } : {}) },
      );
      if (!values.wait || result.runId === null) return { output: result };
      // The run is carried out by the scheduler and the workers; this only watches it.
      const report = await watchRun(ctx, queues, result.runId, watch);
      return { output: { ...result, state: report.state, failedHours: report.failedHours }, exitCode: report.state === 'completed' ? 0 : 1 };
    });
  },
};
