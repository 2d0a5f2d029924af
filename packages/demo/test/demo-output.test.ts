import { execFileSync } from 'node:child_process';
import { isValidTenantId } from '@dcar/domain';
import { describe, expect, it } from 'vitest';
import { failureMessage } from '../src/api-client.js';
import { adminEnvironment, demoTenants, nextSteps, shellWord, type NextStepsInput } from '../src/next-steps.js';
import { runProgress } from '../src/progress.js';

// What `pnpm demo` tells a person: its tenants, its progress, what to try next and why a call failed.

const STEPS: NextStepsInput = {
  baseUrl: 'http://127.0.0.1:3000',
  day: '2025-12-14',
  tenantId: 'demo-acme-20251215-101530',
  clientId: 'app_ac50cc0548085e28571e2122',
  clientSecret: "xU4K-s1z'Uzq GSl2",
  token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl',
  tokenExpiresAt: new Date('2025-12-15T11:15:30Z'),
  hostClientId: 'host',
  developmentHostSecret: 'host-secret',
};

describe('the demo’s next steps', () => {
  it('are shell lines only, with this run’s values and no placeholder', () => {
    const lines = nextSteps(STEPS);
    const script = lines.join('\n');
    // bash -n parses without running: every line is a command or a comment.
    execFileSync('bash', ['-n'], { input: script });
    expect(script).not.toMatch(/<[a-z_ ]+>/i);
    expect(script).toContain(`-H 'Authorization: Bearer ${STEPS.token}'`);
    expect(script).toContain(`client_secret='xU4K-s1z'\\''Uzq GSl2'`);
    expect(script).toContain('pnpm admin run 2025-12-14 --tenant demo-acme-20251215-101530 --force --wait');
    expect(script).toContain('node docs/examples/client.ts 2025-12-14');
    expect(lines.filter((line) => !line.startsWith('#')).every((line) => /^(curl|pnpm|DCAR_API_URL=)/.test(line))).toBe(true);
  });

  it('send the admin line to the database and queues the demo used, when they were not the defaults', () => {
    const env = adminEnvironment({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/mine', REDIS_PREFIX: 'mine', PATH: '/usr/bin' });
    expect(env).toEqual({ variables: { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/mine', REDIS_PREFIX: 'mine' }, hidden: [] });
    const script = nextSteps({ ...STEPS, adminEnvironment: env.variables }).join('\n');
    execFileSync('bash', ['-n'], { input: script });
    expect(script).toContain(
      'DATABASE_URL=postgres://postgres@127.0.0.1:5432/mine REDIS_PREFIX=mine pnpm admin run 2025-12-14 --tenant demo-acme-20251215-101530 --force --wait',
    );
    // A password in a URL is never printed.
    expect(adminEnvironment({ DATABASE_URL: 'postgres://dcar:s3cret@db:5432/dcar', REDIS_URL: 'redis://:pw@r:6379' })).toEqual({
      variables: {},
      hidden: ['DATABASE_URL', 'REDIS_URL'],
    });
    expect(adminEnvironment({})).toEqual({ variables: {}, hidden: [] });
  });

  it('give Bull Board’s address with its user and development password, and never a password someone set', () => {
    const development = nextSteps(STEPS).join('\n');
    expect(development).toContain('Bull Board (user host, password host-secret)');
    expect(development).toContain('#   http://127.0.0.1:3000/admin/queues');
    const set = nextSteps({ ...STEPS, developmentHostSecret: null }).join('\n');
    expect(set).toContain('Bull Board (user host, the HOST_CLIENT_SECRET you set)');
  });

  it('quote a word only when the shell needs it', () => {
    expect(shellWord('app_123-abc')).toBe('app_123-abc');
    expect(execFileSync('bash', ['-c', `printf %s ${shellWord("it's $HOME; rm -rf /")}`]).toString()).toBe("it's $HOME; rm -rf /");
  });
});

describe('the demo’s tenants', () => {
  it('are new each run, so a run within the hour of another meets neither its limit nor its archives', () => {
    const first = demoTenants(new Date('2025-12-15T10:15:30Z'));
    const second = demoTenants(new Date('2025-12-15T10:16:02Z'));
    expect(first.map((t) => t.id)).toEqual(['demo-acme-20251215-101530', 'demo-globex-20251215-101530']);
    expect(second.map((t) => t.id).some((id) => first.some((t) => t.id === id))).toBe(false);
    expect([...first, ...second].every((t) => isValidTenantId(t.id))).toBe(true);
  });
});

describe('the demo’s progress', () => {
  it('comes from this run’s own rounds, not from hours that earlier runs left available', () => {
    // A forced re-run just after its start: every hour is still available from the earlier run.
    const rerun = {
      state: 'running' as const,
      counts: { pending: 0, available: 48, no_data: 0, failed: 0, expired: 0 },
      rounds: [{ round: 1, jobs: 48, failed: null, startedAt: '2025-12-15T10:00:00Z', finishedAt: null }],
    };
    expect(runProgress(rerun)).toBe('round 1: 48 tenant-hour jobs queued, running');
    expect(runProgress({ state: 'queued', rounds: [] })).toBe('queued: no round started yet');
    expect(
      runProgress({
        state: 'completed_with_failures',
        rounds: [
          { round: 1, jobs: 48, failed: 2, startedAt: '2025-12-15T10:00:00Z', finishedAt: '2025-12-15T10:01:00Z' },
          { round: 2, jobs: 2, failed: 1, startedAt: '2025-12-15T10:06:00Z', finishedAt: '2025-12-15T10:06:10Z' },
          { round: 3, jobs: 1, failed: 1, startedAt: '2025-12-15T10:11:10Z', finishedAt: '2025-12-15T10:11:20Z' },
        ],
      }),
    ).toBe(
      'round 1: 48 tenant-hour jobs done, 2 failed; round 2: 2 tenant-hour jobs done, 1 failed; round 3: 1 tenant-hour jobs done, 1 failed (completed_with_failures)',
    );
  });
});

describe('a failed call', () => {
  it('says so when the tenant’s download limit is what failed, and what to do', () => {
    const message = failureMessage(
      'GET /api/external/conversations/daily-audio-recordings/2025-12-14',
      429,
      { error: 'Download limit exceeded. Please try again later.' },
      new Headers({ 'x-ratelimit-limit': '10', 'retry-after': '1834' }),
    );
    expect(message).toContain('answered 429');
    expect(message).toContain('download limit (10 requests per hour, RATE_LIMIT_PER_HOUR) is used up; a request passes again in 1834 s');
    expect(message).toContain('start the API with a higher RATE_LIMIT_PER_HOUR');
    expect(failureMessage('GET /x', 404, { error: 'gone' }, new Headers())).toBe('GET /x answered 404: {"error":"gone"}');
  });
});
