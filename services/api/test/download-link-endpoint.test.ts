import { createHash, randomBytes } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { DailyRecordings, Download } from '@dcar/api-schemas';
import { ContractMessages, archiveKey, type UtcDay } from '@dcar/domain';
import { revokeApplication, setDailyAudioFeature } from '@dcar/host';
import { Writable } from 'node:stream';
import { REDACTED_PATHS } from '@dcar/platform';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signDownloadLinkPath } from '../src/download-links.js';
import { createSigV4Presigner } from '../src/presign.js';
import { DAILY, bearer, putArchiveRows, requestToken, seedTenant, startTestApi, type TestApi } from './helpers.js';

const DAY = '2025-12-14' as UtcDay;
const GENERATED = new Date('2025-12-15T02:15:32Z');
const START = new Date('2025-12-15T10:00:00Z').getTime();
const TTL_SECONDS = 5;
const PREVIOUS_KEY = 'previous-download-link-key-0123456789abcdef';

let env: TestEnvironment;
let api: TestApi;
/** The API's clock: tests move it instead of waiting. */
let clock = START;

beforeAll(async () => {
  env = await createTestEnvironment();
  const config = {
    ...env.config,
    api: { ...env.config.api, rateLimitPerHour: 1 },
    downloads: {
      ...env.config.downloads,
      mode: 'api' as const,
      publicApiUrl: 'https://api.example.com',
      linkTtlSeconds: TTL_SECONDS,
      previousLinkKeys: [PREVIOUS_KEY],
    },
  };
  api = await startTestApi(env, { config, now: () => new Date(clock) });
});

afterAll(async () => {
  await api?.close();
  await env?.close();
});

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A tenant with one application, its hour 14 archived in the store: the links the daily endpoint gives it. */
async function tenantWithArchive(tenantId: string) {
  clock = START;
  const client = await seedTenant(env.knex, tenantId);
  const zip = randomBytes(50_000);
  await env.s3.send(new PutObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: archiveKey(tenantId, DAY, 14), Body: zip }));
  await putArchiveRows(env.knex, tenantId, DAY, [
    { hour: 14, status: 'available', sessionCount: 1, fileCount: 2, sizeBytes: zip.length, generatedAt: GENERATED, sha256: sha256(zip) },
    { hour: 15, status: 'no_data', generatedAt: GENERATED },
  ]);
  const token = await requestToken(api.app, client.clientId, client.clientSecret);
  const response = await api.app.inject({ method: 'GET', url: `${DAILY}/${DAY}`, headers: bearer(token) });
  expect(response.statusCode).toBe(200);
  const link = response.json<DailyRecordings>().links[14]!;
  const url = new URL(link.url!);
  return { ...client, zip, link, path: url.pathname + url.search, url };
}

function follow(path: string, method: 'GET' | 'HEAD' = 'GET') {
  return api.app.inject({ method, url: path, headers: { 'user-agent': 'link-test' } });
}

async function downloadsOf(tenantId: string) {
  const rows = await env.knex('access_audit_log').where({ tenant_id: tenantId, action: 'download' }).orderBy('id');
  return rows as Array<{
    client_id: string | null;
    utc_day: string | null;
    hour: number | null;
    status_code: number;
    archive_sha256: string | null;
    remote_address: string;
  }>;
}

describe('a download link (CONTRACT §4.4)', () => {
  it('is a signed link to the API, with the ZIP’s sha256 beside it', async () => {
    const { link, url, clientId, zip } = await tenantWithArchive('links-shape');
    expect(url.origin).toBe('https://api.example.com');
    expect(url.pathname).toBe(`${DAILY}/${DAY}/hours/14/archive`);
    expect([...url.searchParams.keys()]).toEqual(['tenant', 'application', 'expires', 'signature']);
    expect(url.searchParams.get('tenant')).toBe('links-shape');
    expect(url.searchParams.get('application')).toBe(clientId);
    expect(Number(url.searchParams.get('expires'))).toBe(START / 1000 + TTL_SECONDS);
    expect(link.sha256).toBe(sha256(zip));
  });

  it('302: redirects GET and HEAD to a presigned store URL valid DOWNLOAD_REDIRECT_TTL_SECONDS, whose bytes match the listed sha256', async () => {
    const { path, link, zip } = await tenantWithArchive('links-ok');
    clock = START + 1000;
    const response = await follow(path);
    expect(response.statusCode).toBe(302);
    expect(response.body).toBe('');
    expect(response.headers['cache-control']).toBe('no-store');
    const location = new URL(response.headers.location as string);
    expect(location.origin).toBe(env.config.s3.publicEndpoint);
    expect(location.pathname).toBe(`/${env.config.s3.archiveBucket}/${archiveKey('links-ok', DAY, 14)}`);
    expect(location.searchParams.get('X-Amz-Expires')).toBe('300');
    // The store checks a presigned URL against its own (real) clock: an API whose redirects are signed now downloads the bytes.
    const real = createSigV4Presigner({ ...env.config.s3, endpoint: env.config.s3.publicEndpoint, bucket: env.config.s3.archiveBucket, expiresInSeconds: 300 });
    const live = await startTestApi(env, { now: () => new Date(clock), redirectPresigner: { presignGet: (key) => real.presignGet(key, new Date()) } });
    try {
      const redirect = await live.app.inject({ method: 'GET', url: path });
      expect(redirect.statusCode).toBe(302);
      const download = await fetch(redirect.headers.location as string);
      expect(download.status).toBe(200);
      const bytes = Buffer.from(await download.arrayBuffer());
      expect(bytes.equals(zip)).toBe(true);
      expect(sha256(bytes)).toBe(link.sha256);
    } finally {
      await live.close();
    }

    const head = await follow(path, 'HEAD');
    expect(head.statusCode).toBe(302);
    expect(head.headers.location).toMatch(/^http/);
  });

  it('403: a malformed or tampered link, in any part', async () => {
    const { path } = await tenantWithArchive('links-bad');
    const url = new URL(path, 'http://x');
    const variants = [
      `${url.pathname}`,
      `${url.pathname}?${url.search.slice(1).replace(/&signature=[^&]+/, '')}`,
      `${url.pathname}?${url.search.slice(1).replace('tenant=links-bad', 'tenant=links-ok')}`,
      `${url.pathname.replace('/hours/14/', '/hours/15/')}${url.search}`,
      `${url.pathname.replace('/hours/14/', '/hours/99/')}${url.search}`,
      `${url.pathname.replace(DAY, '2025-13-01')}${url.search}`,
      `${url.pathname}${url.search}&tenant=links-bad`,
      `${url.pathname}${url.search.replace(/signature=[^&]+/, `signature=${'A'.repeat(43)}`)}`,
      `${url.pathname}${url.search.replace(/expires=\d+/, 'expires=99999999999')}`,
      // Parts the router cannot read (undecodable, over-long): still the link's 403, not the day endpoint's 401.
      `${url.pathname.replace(DAY, '%zz')}${url.search}`,
      `${url.pathname.replace('/hours/14/', '/hours/%E0%A4%A/')}${url.search}`,
      `${url.pathname.replace(DAY, '2'.repeat(5000))}${url.search}`,
      `${url.pathname.replace('/hours/14/', '/hours/%C0/')}${url.search}`,
      `${url.pathname.replace(DAY, '%E0%A4%A')}${url.search}`,
      `${url.pathname.replace('/hours/14/', `/hours/${'1'.repeat(3000)}/`)}${url.search}`,
      `${url.pathname.replace(DAY, '9'.repeat(3000))}${url.search}`,
    ];
    for (const variant of variants) {
      const response = await follow(variant);
      expect(response.statusCode, variant).toBe(403);
      expect(response.json(), variant).toEqual({ error: ContractMessages.downloadLinkInvalid });
    }
    const head = await follow(variants[1]!, 'HEAD');
    expect(head.statusCode).toBe(403);
    // Each is audited as a download, an unreadable day as it was sent.
    const rows = await downloadsOf('links-bad');
    expect(rows.every((row) => row.status_code === 403)).toBe(true);
    expect(rows.filter((row) => row.utc_day === '%E0%A4%A')).toHaveLength(1);
    // Hours 99, %E0%A4%A, %C0 and 111…: not an hour, so none is recorded.
    expect(rows.filter((row) => row.utc_day === DAY && row.hour === null)).toHaveLength(4);
  });

  it('403: the link of a revoked application, even once expired (the table’s order)', async () => {
    const { path, clientId } = await tenantWithArchive('links-revoked');
    await revokeApplication(env.knex, 'links-revoked', clientId);
    const response = await follow(path);
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ error: ContractMessages.downloadLinkInvalid });
    clock = START + TTL_SECONDS * 1000;
    expect((await follow(path)).statusCode).toBe(403);
  });

  it('401: once past DOWNLOAD_LINK_TTL_SECONDS, with the seeds’ message, before the feature and the archive are looked at', async () => {
    const { path } = await tenantWithArchive('links-expired');
    clock = START + TTL_SECONDS * 1000 - 1;
    expect((await follow(path)).statusCode).toBe(302);
    clock = START + TTL_SECONDS * 1000;
    const response = await follow(path);
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: 'The download link has expired. Please request a new presigned URL to access the audio files.' });
    expect(response.headers['www-authenticate']).toBeUndefined();
    await setDailyAudioFeature(env.knex, 'links-expired', { enabled: false });
    expect((await follow(path)).statusCode).toBe(401);
    expect((await follow(path, 'HEAD')).statusCode).toBe(401);
  });

  it('403: the feature was disabled for the tenant since, before the archive is looked at', async () => {
    const { path } = await tenantWithArchive('links-disabled');
    await setDailyAudioFeature(env.knex, 'links-disabled', { enabled: false });
    await putArchiveRows(env.knex, 'links-disabled', DAY, [{ hour: 14, status: 'expired', generatedAt: GENERATED }]);
    const response = await follow(path);
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ error: ContractMessages.featureDisabled });
  });

  it('404: retention removed the archive, with the retention message', async () => {
    const { path } = await tenantWithArchive('links-gone');
    await putArchiveRows(env.knex, 'links-gone', DAY, [{ hour: 14, status: 'expired', generatedAt: GENERATED }]);
    const response = await follow(path);
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: ContractMessages.beyondRetention });
    expect((await follow(path, 'HEAD')).statusCode).toBe(404);
  });

  it('404: the ZIP is gone from the store although its hour is still listed available', async () => {
    const { path } = await tenantWithArchive('links-removed');
    await env.s3.send(new DeleteObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: archiveKey('links-removed', DAY, 14) }));
    const response = await follow(path);
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: ContractMessages.beyondRetention });
    expect(response.headers.location).toBeUndefined();
    expect((await follow(path, 'HEAD')).statusCode).toBe(404);
    expect((await downloadsOf('links-removed')).map((row) => [row.hour, row.status_code, row.archive_sha256])).toEqual([
      [14, 404, null],
      [14, 404, null],
    ]);
  });

  it('404: the day passed the tenant’s retention before the clean-up ran', async () => {
    const { path } = await tenantWithArchive('links-late');
    await setDailyAudioFeature(env.knex, 'links-late', { enabled: true, retentionDays: 1 });
    // generatedAt + 1 day is 2025-12-16T02:15:32Z; the link is still valid at that instant only with a clock moved there.
    clock = Date.parse('2025-12-16T02:15:32Z');
    const fresh = new URL(path, 'http://x');
    const claims = {
      tenantId: 'links-late',
      clientId: fresh.searchParams.get('application')!,
      issuer: 'own' as const,
      utcDay: DAY,
      hour: 14,
      expiresAt: clock / 1000 + 60,
    };
    const response = await follow(signDownloadLinkPath(claims, env.config.downloads.linkKey));
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: ContractMessages.beyondRetention });
  });

  it('verifies links signed with a previous key during a rotation', async () => {
    const { path } = await tenantWithArchive('links-rotated');
    const fresh = new URL(path, 'http://x');
    const claims = {
      tenantId: 'links-rotated',
      clientId: fresh.searchParams.get('application')!,
      issuer: 'own' as const,
      utcDay: DAY,
      hour: 14,
      expiresAt: START / 1000 + 60,
    };
    expect((await follow(signDownloadLinkPath(claims, PREVIOUS_KEY))).statusCode).toBe(302);
    expect((await follow(signDownloadLinkPath(claims, 'some-other-key-0123456789abcdef0123'))).statusCode).toBe(403);
  });

  it('does not count against the tenant’s hourly limit', async () => {
    // The tenant's one request of the hour obtained the link; the link still works, many times.
    const { path, clientId, clientSecret } = await tenantWithArchive('links-unlimited');
    for (let i = 0; i < 5; i++) expect((await follow(path)).statusCode).toBe(302);
    const token = await requestToken(api.app, clientId, clientSecret);
    expect((await api.app.inject({ method: 'GET', url: `${DAILY}/${DAY}`, headers: bearer(token) })).statusCode).toBe(429);
  });

  it('audits every answer, and the host lists who fetched which hour and which bytes', async () => {
    const { path, clientId, zip } = await tenantWithArchive('links-audited');
    expect((await follow(path)).statusCode).toBe(302);
    expect((await follow(path.replace(/signature=[^&]+/, `signature=${'B'.repeat(43)}`))).statusCode).toBe(403);
    clock = START + TTL_SECONDS * 1000;
    expect((await follow(path)).statusCode).toBe(401);

    const rows = await downloadsOf('links-audited');
    expect(rows.map((row) => [row.client_id, row.utc_day, row.hour, row.status_code, row.archive_sha256])).toEqual([
      [clientId, DAY, 14, 302, sha256(zip)],
      [clientId, DAY, 14, 403, null],
      [clientId, DAY, 14, 401, null],
    ]);
    expect(rows.every((row) => row.remote_address === '127.0.0.1')).toBe(true);

    const host = await requestToken(api.app, env.config.auth.hostClientId, env.config.auth.hostClientSecret);
    const listed = await api.app.inject({ method: 'GET', url: `/api/host/tenants/links-audited/downloads?utcDay=${DAY}`, headers: bearer(host) });
    expect(listed.statusCode).toBe(200);
    const downloads = listed.json<Download[]>();
    expect(downloads.map((d) => [d.clientId, d.utcDay, d.hour, d.status, d.sha256, d.address, d.userAgent])).toEqual([
      [clientId, DAY, '14', 401, null, '127.0.0.1', 'link-test'],
      [clientId, DAY, '14', 403, null, '127.0.0.1', 'link-test'],
      [clientId, DAY, '14', 302, sha256(zip), '127.0.0.1', 'link-test'],
    ]);
    expect(Date.parse(downloads[0]!.occurredAt)).not.toBeNaN();

    const otherDay = await api.app.inject({ method: 'GET', url: '/api/host/tenants/links-audited/downloads?utcDay=2025-12-13', headers: bearer(host) });
    expect(otherDay.json()).toEqual([]);
    const badDay = await api.app.inject({ method: 'GET', url: '/api/host/tenants/links-audited/downloads?utcDay=2025-02-30', headers: bearer(host) });
    expect(badDay.statusCode).toBe(400);
    expect(badDay.json()).toEqual({ error: ContractMessages.invalidDay });
    const unknown = await api.app.inject({ method: 'GET', url: '/api/host/tenants/nobody/downloads', headers: bearer(host) });
    expect(unknown.statusCode).toBe(404);
  });
});

describe('the log of a link request', () => {
  it('has the link’s path and claims, never its signature', async () => {
    let logs = '';
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logs += String(chunk);
        done();
      },
    });
    const logger = pino({ level: 'trace', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, sink);
    const { path } = await tenantWithArchive('links-logged');
    const logged = await startTestApi(env, {
      logger,
      now: () => new Date(START),
      config: { ...env.config, downloads: { ...env.config.downloads, linkTtlSeconds: TTL_SECONDS } },
    });
    try {
      const response = await logged.app.inject({ method: 'GET', url: path });
      expect(response.statusCode).toBe(302);
    } finally {
      await logged.close();
    }
    const signature = new URL(path, 'http://x').searchParams.get('signature')!;
    expect(logs).toContain('/hours/14/archive?tenant=links-logged');
    expect(logs).toContain('signature=[redacted]');
    expect(logs).not.toContain(signature);
    // Nor the store URL it redirected to (its own signature).
    expect(logs).not.toContain('X-Amz-Signature');
  });
});

describe('DOWNLOAD_LINKS=direct', () => {
  it('keeps presigned store URLs valid DOWNLOAD_LINK_TTL_SECONDS in the daily answer', async () => {
    const direct = await startTestApi(env, {
      config: { ...env.config, downloads: { ...env.config.downloads, mode: 'direct', linkTtlSeconds: 7200 } },
      now: () => new Date(START),
    });
    try {
      const client = await seedTenant(env.knex, 'links-direct');
      await putArchiveRows(env.knex, 'links-direct', DAY, [{ hour: 3, status: 'available', sizeBytes: 10, generatedAt: GENERATED, sha256: 'cd'.repeat(32) }]);
      const token = await requestToken(direct.app, client.clientId, client.clientSecret);
      const body = (await direct.app.inject({ method: 'GET', url: `${DAILY}/${DAY}`, headers: bearer(token) })).json<DailyRecordings>();
      const url = new URL(body.links[3]!.url!);
      expect(url.origin).toBe(env.config.s3.publicEndpoint);
      expect(url.pathname).toBe(`/${env.config.s3.archiveBucket}/${archiveKey('links-direct', DAY, 3)}`);
      expect(url.searchParams.get('X-Amz-Expires')).toBe('7200');
      expect(body.links[3]!.sha256).toBe('cd'.repeat(32));
    } finally {
      await direct.close();
    }
  });
});
