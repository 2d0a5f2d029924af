import { createRedisConnection, redisReady } from '@dcar/platform';
import { createRunQueues, getRunReport, startRun, type RunReport } from '@dcar/runs';
import { parseCommandArgs, type Command } from './cli.js';

const POLL_INTERVAL_MS = 1000;
/** How long the command waits for Redis before giving up with an error (its connection fails fast afterwards). */
const REDIS_CONNECT_WAIT_MS = 10_000;

/** The run without its per-hour list (its failed hours are listed on their own): what an operator reads at the end. */
function summary(report: RunReport): Omit<RunReport, 'hours'> {
  const { hours: _hours, ...run } = report;
  return run;
}

export const runCommand: Command = {
  usage: 'run <utcDay> [--tenant <tenantId>]... [--force] [--wait]',
  async run({ config, db, logger, now }, args) {
    const { values, positionals } = parseCommandArgs(
      args,
      { tenant: { type: 'string', multiple: true }, force: { type: 'boolean' }, wait: { type: 'boolean' } },
      1,
    );
    const connection = createRedisConnection(config.redis.url, 'producer');
    const queues = createRunQueues(connection, config.redis.prefix);
    try {
      await redisReady(connection, REDIS_CONNECT_WAIT_MS);
      const { runId, created } = await startRun(
        { db, queues, logger, now },
        { utcDay: positionals[0]!, tenantIds: values.tenant, force: values.force ?? false, trigger: 'manual' },
      );
      if (!values.wait) return { output: { runId, created } };
      // The run is carried out by the scheduler and the workers; this only watches its record.
      for (;;) {
        const report = await getRunReport(db, runId);
        if (!report) throw new Error(`run ${runId} disappeared`);
        if (report.finishedAt) {
          return { output: summary(report), exitCode: report.state === 'completed' ? 0 : 1 };
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
      }
    } finally {
      await queues.close();
      connection.disconnect();
    }
  },
};
