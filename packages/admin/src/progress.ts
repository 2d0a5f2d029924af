import type { RoundProgress, RunProgress } from '@dcar/runs';

/** Where progress goes: stderr, so stdout stays the one JSON document a script parses. */
export interface ProgressOutput {
  isTTY: boolean;
  write(text: string): void;
}

const BAR_WIDTH = 24;

/** `round 1 [#########---------------] 18/48 done, 2 failed, 3.2 jobs/s` (the bar counts done and failed jobs). */
export function formatRound(round: RoundProgress, ratePerSecond: number | null, options: { bar: boolean }): string {
  if (round.total === null) return `round ${round.round}: enqueueing its jobs`;
  const finished = round.done + round.failed;
  const rate = ratePerSecond === null ? '' : `, ${ratePerSecond.toFixed(1)} jobs/s`;
  const counts = `${round.done}/${round.total} done, ${round.failed} failed${rate}`;
  if (!options.bar) return `round ${round.round}: ${counts}${round.finished ? ' (round over)' : ''}`;
  const filled = round.total === 0 ? BAR_WIDTH : Math.min(BAR_WIDTH, Math.round((finished / round.total) * BAR_WIDTH));
  return `round ${round.round} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${counts}`;
}

/**
 * Shows a run's progress while `--wait` watches it. On a terminal: one progress bar per round,
 * redrawn in place, kept on its own line once the round is over. Otherwise: a plain line whenever
 * the counts change (at most every `plainIntervalMs`) and when a round ends, so a log keeps a record.
 */
export function createProgressReporter(output: ProgressOutput, options: { now?: () => number; plainIntervalMs?: number } = {}) {
  const now = options.now ?? Date.now;
  const plainIntervalMs = options.plainIntervalMs ?? 5000;
  /** Per round: when it was first seen and how many of its jobs had finished then, for the rate. */
  const firstSeen = new Map<number, { at: number; finished: number }>();
  const reported = new Set<number>();
  const lastPlain = new Map<number, { counts: string; at: number }>();
  let barOpen = false;

  const rateOf = (round: RoundProgress): number | null => {
    const finished = round.done + round.failed;
    const seen = firstSeen.get(round.round);
    if (!seen) {
      firstSeen.set(round.round, { at: now(), finished });
      return null;
    }
    const seconds = (now() - seen.at) / 1000;
    return seconds > 0 && finished > seen.finished ? (finished - seen.finished) / seconds : null;
  };

  return {
    update(progress: RunProgress): void {
      for (const round of progress.rounds) {
        if (reported.has(round.round)) continue;
        const rate = rateOf(round);
        if (output.isTTY) {
          output.write(`\r\u001b[2K${formatRound(round, rate, { bar: true })}`);
          barOpen = true;
          if (round.finished) {
            output.write('\n');
            barOpen = false;
            reported.add(round.round);
          }
          continue;
        }
        const counts = formatRound(round, null, { bar: false });
        const last = lastPlain.get(round.round);
        if (!last || round.finished || (counts !== last.counts && now() - last.at >= plainIntervalMs)) {
          output.write(`${formatRound(round, rate, { bar: false })}\n`);
          lastPlain.set(round.round, { counts, at: now() });
        }
        if (round.finished) reported.add(round.round);
      }
    },
    /** A warning on its own line (the bar, if one is drawn, is redrawn after it). */
    warn(message: string): void {
      if (barOpen) output.write('\n');
      barOpen = false;
      output.write(`warning: ${message}\n`);
    },
    /** Ends an open bar's line before the result is printed. */
    end(): void {
      if (barOpen) output.write('\n');
      barOpen = false;
    },
  };
}
