import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, REPOSITORY_ROOT, sourceCommand } from '@dcar/testing';
import { findApiClient } from '@dcar/host';
import { verifySecret } from '@dcar/platform';

let database: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

/** Runs the CLI as an operator would (`pnpm admin ...` runs exactly this). */
function admin(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const { command, args: commandArgs } = sourceCommand('admin', args);
    execFile(
      command,
      commandArgs,
      { cwd: REPOSITORY_ROOT, env: { ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'warn', ...env } },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('pnpm admin', () => {
  it('puts a tenant, sets its feature and creates an application, printing JSON', async () => {
    const put = await admin(['tenant', 'put', 'acme', '--name', 'Acme Corp']);
    expect(put.code).toBe(0);
    expect(JSON.parse(put.stdout)).toMatchObject({ id: 'acme', name: 'Acme Corp', created: true });

    const feature = await admin(['feature', 'set', 'acme', '--enabled', 'true', '--retention-days', '5']);
    expect(feature.code).toBe(0);
    expect((JSON.parse(feature.stdout) as { dailyAudioRecordings: unknown }).dailyAudioRecordings).toEqual({ enabled: true, retentionDays: 5 });

    const app = await admin(['app', 'create', 'acme', '--name', 'exporter']);
    expect(app.code).toBe(0);
    const created = JSON.parse(app.stdout) as { clientId: string; clientSecret: string; scopes: string[] };
    expect(created.scopes).toEqual(['dataservice_external']);
    const stored = await findApiClient(database.knex, created.clientId);
    expect(stored?.tenantId).toBe('acme');
    expect(await verifySecret(stored!.secretHash, created.clientSecret)).toBe(true);
  });

  it('registers a webhook and prints it with its secret once; reads, rotates and deletes it', async () => {
    await admin(['tenant', 'put', 'hooked', '--name', 'Hooked']);
    const refused = await admin(['webhook', 'set', 'hooked', '--url', 'http://127.0.0.1:9/hook']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr)).toEqual({ error: 'url must start with https://' });

    const set = await admin(['webhook', 'set', 'hooked', '--url', 'http://127.0.0.1:9/hook', '--enabled', 'false'], { WEBHOOK_ALLOW_INSECURE: 'true' });
    expect(set.code).toBe(0);
    const created = JSON.parse(set.stdout) as { url: string; enabled: boolean; secret: string };
    expect(created).toMatchObject({ url: 'http://127.0.0.1:9/hook', enabled: false, secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/) as string });
    expect(set.stderr).not.toContain(created.secret);

    const got = await admin(['webhook', 'get', 'hooked']);
    expect(JSON.parse(got.stdout)).toEqual({
      url: 'http://127.0.0.1:9/hook',
      enabled: false,
      createdAt: expect.any(String) as string,
      updatedAt: expect.any(String) as string,
    });

    const rotated = JSON.parse((await admin(['webhook', 'rotate-secret', 'hooked'])).stdout) as { secret: string };
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(created.secret);

    const deleted = await admin(['webhook', 'delete', 'hooked']);
    expect([deleted.code, JSON.parse(deleted.stdout)]).toEqual([0, { tenantId: 'hooked', deleted: true }]);
    expect(await database.knex('tenant_webhooks').count('* as n').first()).toEqual({ n: 0 });
  });

  it.each([
    [['webhook', 'set', 'acme'], /--url is required/],
    [['feature', 'set', 'acme', '--enabled', 'yes'], /--enabled must be true or false/],
    [['tenant', 'put', 'acme'], /--name is required/],
    [['tenant', 'put', '--name', 'x'], /expected 1 argument/],
    [['app', 'create', 'acme', '--name', 'x', '--bogus'], /Unknown option '--bogus'/],
  ])('exits 2 with a usage line on bad arguments %j', async (args, message) => {
    const result = await admin(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/^usage: pnpm admin /m);
    expect(result.stdout).toBe('');
  });

  it('exits 2 with the command list for an unknown command', async () => {
    const result = await admin(['tenant', 'explode']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command: tenant explode');
    expect(result.stderr).toContain('feature set <tenantId> --enabled true|false');
  });

  it('--help lists every command with what it does; help <command> and <command> --help show one in full', async () => {
    const help = await admin(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: pnpm admin <command> \[arguments\]\n/);
    expect(help.stdout).toMatch(/^ {2}runs +list runs, newest first, with their state and rounds$/m);
    expect(help.stdout).toMatch(/^ {2}tenant put +create a tenant, or rename it$/m);

    const run = await admin(['help', 'run']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      'usage: pnpm admin run <utcDay> [--tenant <tenantId>]... [--force] [--wait [--timeout <seconds>] [--stall-warning <seconds>]]',
    );
    expect(run.stdout).toMatch(/^ {2}--timeout <seconds> +with --wait: give up waiting after this long, exit 1/m);
    expect((await admin(['webhook', 'set', '--help'])).stdout).toMatch(/^usage: pnpm admin webhook set <tenantId> --url/);

    const unknown = await admin(['help', 'explode']);
    expect([unknown.code, unknown.stdout]).toEqual([2, '']);
    expect(unknown.stderr).toMatch(/^unknown command: explode\nusage: pnpm admin <command>/);
  });

  it('exits 1 with a JSON error for a refused operation', async () => {
    const result = await admin(['feature', 'set', 'acme', '--enabled', 'true', '--retention-days', '9']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr)).toEqual({ error: 'retentionDays must be an integer from 1 to 7' });
  });

  it('stops at once, naming the variable, when the configuration is wrong', async () => {
    const result = await admin(['tenant', 'list'], { REDIS_URL: 'nope' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('Invalid configuration: REDIS_URL must be a URL starting with redis:// or rediss:// (got "nope")');
  });
});
