import type { RunProgress } from '@dcar/runs';
import { describe, expect, it } from 'vitest';
import { createProgressReporter, formatRound } from '../src/progress.js';

const progress = (rounds: RunProgress['rounds']): RunProgress => ({ runId: 'r', utcDay: '2026-01-01', state: 'running', finishedAt: null, rounds });

function recorder(isTTY: boolean) {
  let text = '';
  let clock = 0;
  const reporter = createProgressReporter({ isTTY, write: (chunk) => void (text += chunk) }, { now: () => clock, plainIntervalMs: 5000 });
  return { reporter, text: () => text, advance: (ms: number) => void (clock += ms) };
}

describe('run progress', () => {
  it('draws a bar with done, failed, total and rate', () => {
    expect(formatRound({ round: 1, total: 48, done: 18, failed: 6, finished: false }, 3.25, { bar: true })).toBe(
      'round 1 [############------------] 18/48 done, 6 failed, 3.3 jobs/s',
    );
    expect(formatRound({ round: 2, total: null, done: 0, failed: 0, finished: false }, null, { bar: true })).toBe('round 2: enqueueing its jobs');
    expect(formatRound({ round: 1, total: 0, done: 0, failed: 0, finished: true }, null, { bar: false })).toBe('round 1: 0/0 done, 0 failed (round over)');
  });

  it('on a terminal redraws the bar in place and keeps each finished round on its own line', () => {
    const { reporter, text, advance } = recorder(true);
    reporter.update(progress([{ round: 1, total: 10, done: 0, failed: 0, finished: false }]));
    advance(2000);
    reporter.update(progress([{ round: 1, total: 10, done: 4, failed: 0, finished: false }]));
    reporter.warn('slow');
    advance(2000);
    reporter.update(
      progress([
        { round: 1, total: 10, done: 9, failed: 1, finished: true },
        { round: 2, total: 1, done: 0, failed: 0, finished: false },
      ]),
    );
    reporter.end();
    expect(text()).toBe(
      '\r\u001b[2Kround 1 [------------------------] 0/10 done, 0 failed' +
        '\r\u001b[2Kround 1 [##########--------------] 4/10 done, 0 failed, 2.0 jobs/s' +
        '\nwarning: slow\n' +
        '\r\u001b[2Kround 1 [########################] 9/10 done, 1 failed, 2.5 jobs/s\n' +
        '\r\u001b[2Kround 2 [------------------------] 0/1 done, 0 failed\n',
    );
  });

  it('elsewhere writes plain lines: a round when first seen, on changes at most every 5 s, and when it ends', () => {
    const { reporter, text, advance } = recorder(false);
    const round = (done: number, finished = false) => progress([{ round: 1, total: 10, done, failed: 0, finished }]);
    reporter.update(round(0));
    advance(1000);
    reporter.update(round(2));
    advance(5000);
    reporter.update(round(5));
    advance(1000);
    reporter.update(round(5));
    reporter.update(round(10, true));
    reporter.update(round(10, true));
    expect(text().split('\n')).toEqual([
      'round 1: 0/10 done, 0 failed',
      'round 1: 5/10 done, 0 failed, 0.8 jobs/s',
      'round 1: 10/10 done, 0 failed, 1.4 jobs/s (round over)',
      '',
    ]);
  });
});
