import { createRedisConnection, redisReady } from '@dcar/platform';
import {
  countQueueConsumers,
  createRunQueues,
  getRunProgress,
  getRunReport,
  listRuns,
  startRun,
  type RunProgress,
  type RunQueues,
  type RunReport,
} from '@dcar/runs';
import { CommandFailed, UsageError, parseCommandArgs, parseIntegerFlag, type Command, type CommandContext } from './cli.js';
import { createProgressReporter } from './progress.js';

const POLL_INTERVAL_MS = 1000;
/** How long the command waits for Redis before giving up with an error (its connection fails fast afterwards). */
const REDIS_CONNECT_WAIT_MS = 10_000;
/** `--wait` warns when nothing has moved for this long (`--stall-warning`). */
export const DEFAULT_STALL_WARNING_SECONDS = 60;

/** The run without its per-hour list (its failed hours are listed on their own): what an operator reads at the end. */
function summary(report: RunReport): Omit<RunReport, 'hours'> {
  const { hours: _hours, ...run } = report;
  return run;
}

function positiveSeconds(name: string, value: string | undefined): number | undefined {
  const seconds = parseIntegerFlag(name, value);
  if (seconds !== undefined && seconds < 1) throw new UsageError(`--${name} must be a whole number of seconds, at least 1`);
  return seconds;
}

/** The flags of a command that starts a run and may follow it (`run`, `reconcile`). */
export const WAIT_FLAGS = { wait: { type: 'boolean' }, timeout: { type: 'string' }, 'stall-warning': { type: 'string' } } as const;

/** The help lines of `--timeout` and `--stall-warning`, the same for every command with WAIT_FLAGS. */
export const WAIT_FLAG_DETAILS = [
  '  --timeout <seconds>        with --wait: give up waiting after this long, exit 1 (the run itself carries on)',
  `  --stall-warning <seconds>  with --wait: warn when nothing has moved for this long (default ${DEFAULT_STALL_WARNING_SECONDS}),`,
  '                             naming a missing scheduler or worker',
];

/** `--wait`'s options, checked: `--timeout` and `--stall-warning` are positive seconds, and only with `--wait`. */
export function waitOptions(values: { wait?: boolean; timeout?: string; 'stall-warning'?: string }): WatchOptions {
  const timeoutSeconds = positiveSeconds('timeout', values.timeout);
  const stallSeconds = positiveSeconds('stall-warning', values['stall-warning']) ?? DEFAULT_STALL_WARNING_SECONDS;
  if (!values.wait && (values.timeout !== undefined || values['stall-warning'] !== undefined))
    throw new UsageError('--timeout and --stall-warning need --wait');
  return { timeoutSeconds, stallSeconds };
}

/** The run queues on a producer connection of their own, for the length of `work`. */
export async function withRunQueues<T>(ctx: CommandContext, work: (queues: RunQueues) => Promise<T>): Promise<T> {
  const connection = createRedisConnection(ctx.config.redis.url, 'producer');
  const queues = createRunQueues(connection, ctx.config.redis.prefix);
  try {
    await redisReady(connection, REDIS_CONNECT_WAIT_MS);
    return await work(queues);
  } finally {
    await queues.close();
    connection.disconnect();
  }
}

interface WatchOptions {
  timeoutSeconds?: number;
  stallSeconds: number;
}

/** What has changed when the run moves: its state, round, or any round's counts. */
function fingerprint(progress: RunProgress): string {
  return JSON.stringify([progress.state, progress.rounds.map((r) => [r.round, r.total, r.done, r.failed, r.finished])]);
}

/** Why a run might not move: nobody consumes the queue its current step waits on. */
async function stallReason(queues: RunQueues, progress: RunProgress, prefix: string): Promise<string> {
  const current = progress.rounds.at(-1);
  const consumers = await countQueueConsumers(queues).catch(() => null);
  if (consumers && consumers.archiveRun === 0 && (current === undefined || current.total === null || current.done + current.failed === current.total)) {
    return `no scheduler is consuming the archive-run queue with REDIS_PREFIX=${prefix}: start one (pnpm start:scheduler) with the same REDIS_URL and REDIS_PREFIX`;
  }
  if (current?.finished && progress.state === 'running') {
    return `round ${current.round} is over; the next round, of its failed hours, starts RETRY_ROUND_DELAY_SECONDS (the scheduler's, 300 s by default) after it`;
  }
  if (consumers && consumers.archiveHour === 0) {
    return `no worker is consuming the archive-hour queue with REDIS_PREFIX=${prefix}: start one (pnpm start:worker) with the same REDIS_URL and REDIS_PREFIX`;
  }
  return 'the workers are busy (long hours, or other runs ahead of this one); Bull Board (/admin/queues) shows the queues';
}

/**
 * Follows a run (a day's or a reconciliation's) until it finishes and returns its report; warns on
 * stderr when it stalls, and gives up with CommandFailed after `timeoutSeconds` (the run carries on).
 */
export async function watchRun(ctx: CommandContext, queues: RunQueues, runId: string, options: WatchOptions): Promise<RunReport> {
  const reporter = createProgressReporter(ctx.progress);
  const startedAt = Date.now();
  let lastChange = { fingerprint: '', at: startedAt };
  let warnedAt = 0;
  try {
    for (;;) {
      const progress = await getRunProgress({ db: ctx.db, queues }, runId);
      if (!progress) throw new Error(`run ${runId} disappeared`);
      reporter.update(progress);
      if (progress.finishedAt) {
        reporter.end();
        const report = await getRunReport(ctx.db, runId);
        if (!report) throw new Error(`run ${runId} disappeared`);
        return report;
      }
      const now = Date.now();
      const print = fingerprint(progress);
      if (print !== lastChange.fingerprint) lastChange = { fingerprint: print, at: now };
      if (now - lastChange.at >= options.stallSeconds * 1000 && now - warnedAt >= options.stallSeconds * 1000) {
        warnedAt = now;
        const idle = Math.round((now - lastChange.at) / 1000);
        reporter.warn(`run ${runId} has not progressed for ${idle} s: ${await stallReason(queues, progress, ctx.config.redis.prefix)}`);
      }
      if (options.timeoutSeconds !== undefined && now - startedAt >= options.timeoutSeconds * 1000) {
        reporter.end();
        const current = progress.rounds.at(-1);
        const where = current ? `round ${current.round}: ${current.done}/${current.total ?? '?'} done, ${current.failed} failed` : 'no round started';
        throw new CommandFailed(
          `run ${runId} did not finish within ${options.timeoutSeconds} s (${progress.state}, ${where}); it carries on: follow it with pnpm admin runs --day ${progress.utcDay}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    }
  } finally {
    reporter.end();
  }
}

export const runCommand: Command = {
  usage: 'run <utcDay> [--tenant <tenantId>]... [--force] [--wait [--timeout <seconds>] [--stall-warning <seconds>]]',
  summary: 'generate (or with --force regenerate) a past UTC day now; --wait follows it to the end',
  details: [
    'Records a manual run of <utcDay> for the tenants named (default: every enabled tenant whose retention',
    'covers the day) and queues its first round; prints {"runId", "created"}.',
    '',
    '  --tenant <tenantId>        a tenant to run (repeat for several)',
    '  --force                    regenerate every hour, replacing available archives',
    '  --wait                     follow the run until it finishes and print its summary; exit 1 if an hour failed.',
    '                             Progress goes to stderr: a bar per round on a terminal (done/failed/total, jobs/s),',
    '                             plain lines otherwise',
    ...WAIT_FLAG_DETAILS,
  ].join('\n'),
  async run(ctx, args) {
    const { db, logger, now } = ctx;
    const { values, positionals } = parseCommandArgs(args, { tenant: { type: 'string', multiple: true }, force: { type: 'boolean' }, ...WAIT_FLAGS }, 1);
    const watch = waitOptions(values);
    return withRunQueues(ctx, async (queues) => {
      const { runId, created } = await startRun(
        { db, queues, logger, now },
        { utcDay: positionals[0]!, tenantIds: values.tenant, force: values.force ?? false, trigger: 'manual' },
      );
      if (!values.wait) return { output: { runId, created } };
      // The run is carried out by the scheduler and the workers; this only watches it.
      const report = await watchRun(ctx, queues, runId, watch);
      return { output: summary(report), exitCode: report.state === 'completed' ? 0 : 1 };
    });
  },
};

export const runsCommand: Command = {
  usage: 'runs [--day <utcDay>] [--limit <n>]',
  summary: 'list runs, newest first, with their state and rounds',
  details: [
    'Prints the runs (nightly and manual), newest first: runId, utcDay, trigger, force, state',
    '(queued, running, completed, completed_with_failures, failed), round, tenantCount, jobCount,',
    "startedAt, finishedAt and each round's jobs and failures. `pnpm admin run ... --wait` or",
    'GET /api/host/daily-audio-recordings/runs/{runId} give one run in full.',
    '',
    '  --day <utcDay>   only the runs of that UTC day (YYYY-MM-DD)',
    '  --limit <n>      at most n runs (default 50, at most 500)',
  ].join('\n'),
  async run({ db }, args) {
    const { values } = parseCommandArgs(args, { day: { type: 'string' }, limit: { type: 'string' } }, 0);
    return { output: await listRuns(db, { utcDay: values.day, limit: parseIntegerFlag('limit', values.limit) }) };
  },
};
