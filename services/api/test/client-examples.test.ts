import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { archiveKey, previousUtcDay } from '@dcar/domain';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putArchiveRows, seedTenant, startListeningTestApi, type TestApi } from './helpers.js';

// The client examples of docs/examples, run as an integrator runs them (a separate process, only
// the API's address and the application's credentials), against the API and the S3 store.

const run = promisify(execFile);
const REPOSITORY = fileURLToPath(new URL('../../../', import.meta.url));
const DAY = previousUtcDay(new Date());
const HOURS = [3, 9, 17];

let env: TestEnvironment;
let api: TestApi;
let apiUrl: string;
let output: string;
const archives = new Map<string, Buffer>();

/** Puts one hour's "ZIP" (its bytes only matter to the hash) in the archive bucket and its row in the database. */
async function storeHour(tenantId: string, hour: number, bytes: Buffer, listedSha256 = createHash('sha256').update(bytes).digest('hex')): Promise<void> {
  await env.s3.send(new PutObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: archiveKey(tenantId, DAY, hour), Body: bytes }));
  await putArchiveRows(env.knex, tenantId, DAY, [
    { hour, status: 'available', sessionCount: 1, fileCount: 2, sizeBytes: bytes.length, sha256: listedSha256, generatedAt: new Date() },
  ]);
}

beforeAll(async () => {
  env = await createTestEnvironment();
  // The day's links go through the API (DOWNLOAD_LINKS=api): the examples follow them to the store.
  api = await startListeningTestApi(env);
  apiUrl = (api as TestApi & { address: string }).address;
  output = await mkdtemp(join(tmpdir(), 'dcar-client-'));
});

afterAll(async () => {
  await api?.close();
  await env?.close();
  if (output) await rm(output, { recursive: true, force: true });
});

async function tenantWithHours(tenantId: string): Promise<{ clientId: string; clientSecret: string }> {
  const client = await seedTenant(env.knex, tenantId);
  for (const hour of HOURS) {
    const bytes = randomBytes(50_000 + hour);
    archives.set(`${tenantId}/${hour}`, bytes);
    await storeHour(tenantId, hour, bytes);
  }
  await putArchiveRows(env.knex, tenantId, DAY, [{ hour: 4, status: 'no_data', generatedAt: new Date() }]);
  return client;
}

function exampleEnv(client: { clientId: string; clientSecret: string }, out: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DCAR_API_URL: apiUrl,
    DCAR_CLIENT_ID: client.clientId,
    DCAR_CLIENT_SECRET: client.clientSecret,
    DCAR_OUT: out,
  };
}

async function expectDownloaded(tenantId: string, directory: string): Promise<void> {
  expect((await readdir(directory)).sort()).toEqual(HOURS.map((h) => `${String(h).padStart(2, '0')}.zip`));
  for (const hour of HOURS) {
    expect((await readFile(join(directory, `${String(hour).padStart(2, '0')}.zip`))).equals(archives.get(`${tenantId}/${hour}`)!)).toBe(true);
  }
}

describe('docs/examples', () => {
  it('client.ts (plain node, no build) downloads every available hour of yesterday and verifies its SHA-256', async () => {
    const client = await tenantWithHours('example-ts');
    const out = join(output, 'ts');
    const { stdout } = await run(process.execPath, ['docs/examples/client.ts'], { cwd: REPOSITORY, env: exampleEnv(client, out) });
    expect(stdout).toContain(`${DAY}: 3 hours available`);
    expect(stdout).toContain('04 no_data');
    expect(stdout.match(/sha256 [0-9a-f]{64} verified/g)).toHaveLength(3);
    expect(stdout).toContain(`verified 3 of 3 available hours of ${DAY}`);
    await expectDownloaded('example-ts', join(out, DAY));
    // Each ZIP came through its link to the API, which redirected to the store and audited it.
    const downloads = await env.knex('access_audit_log').where({ tenant_id: 'example-ts', action: 'download' }).orderBy('hour');
    expect(downloads.map((row: { hour: number; status_code: number; archive_sha256: string }) => [row.hour, row.status_code, row.archive_sha256])).toEqual(
      HOURS.map((hour) => [
        hour,
        302,
        createHash('sha256')
          .update(archives.get(`example-ts/${hour}`)!)
          .digest('hex'),
      ]),
    );
  });

  it('client.sh (curl, jq, sha256sum) does the same', async () => {
    const client = await tenantWithHours('example-sh');
    const out = join(output, 'sh');
    const { stdout } = await run('bash', ['docs/examples/client.sh'], { cwd: REPOSITORY, env: exampleEnv(client, out) });
    expect(stdout).toContain(`${DAY}: 3 hours available`);
    expect(stdout.match(/sha256 [0-9a-f]{64} verified/g)).toHaveLength(3);
    expect(stdout).toContain(`verified 3 of 3 available hours of ${DAY}`);
    await expectDownloaded('example-sh', join(out, DAY));
  });

  it('both refuse an archive whose bytes do not match the listed SHA-256, and keep no such file', async () => {
    const client = await seedTenant(env.knex, 'example-tampered');
    await storeHour('example-tampered', 5, randomBytes(1000), 'ab'.repeat(32));
    for (const [command, args] of [
      [process.execPath, ['docs/examples/client.ts']],
      ['bash', ['docs/examples/client.sh']],
    ] as const) {
      const out = join(output, `tampered-${command === 'bash' ? 'sh' : 'ts'}`);
      const failure = await run(command, [...args], { cwd: REPOSITORY, env: exampleEnv(client, out) }).then(
        () => null,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failure?.code, command).toBe(1);
      expect(failure?.stderr).toMatch(/hour 05: .*SHA-256/);
      expect(await readdir(join(out, DAY))).toEqual([]);
    }
  });

  it('both say what a refused token means', async () => {
    for (const [command, args] of [
      [process.execPath, ['docs/examples/client.ts']],
      ['bash', ['docs/examples/client.sh']],
    ] as const) {
      const failure = await run(command, [...args], { cwd: REPOSITORY, env: exampleEnv({ clientId: 'nobody', clientSecret: 'wrong-secret' }, output) }).then(
        () => null,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failure?.code, command).toBe(1);
      expect(failure?.stderr).toMatch(/token request: HTTP 401 invalid_client/);
    }
  });
});
