import type { RunReport } from '@dcar/api-schemas';

/**
 * What a run has done so far, from its own figures: the run report's rounds (jobs queued and failed
 * per round of this run). The per-status counts of a report are the hours' current statuses, which
 * on a forced re-run are still those of earlier runs, so they say nothing about this one.
 */
export function runProgress(report: Pick<RunReport, 'state' | 'rounds'>): string {
  if (report.rounds.length === 0) return `${report.state}: no round started yet`;
  const rounds = report.rounds.map((round) => {
    if (round.jobs === null) return `round ${round.round}: queuing jobs`;
    if (round.finishedAt === null) return `round ${round.round}: ${round.jobs} tenant-hour jobs queued, running`;
    return `round ${round.round}: ${round.jobs} tenant-hour jobs done, ${round.failed ?? 0} failed`;
  });
  return report.state === 'running' ? rounds.join('; ') : `${rounds.join('; ')} (${report.state})`;
}
