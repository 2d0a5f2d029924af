import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { findArchiveRows } from '@dcar/archives/test-fixtures';
import { archiveKey, formatHour, previousUtcDay } from '@dcar/domain';
import { createApplication, putTenant, setDailyAudioFeature } from '@dcar/host';
import { createTestEnvironment, waitFor, type TestEnvironment } from '@dcar/testing';
import { archiveMetadataOf, probeAudioFile, readZipFile } from '@dcar/testing/archive';
import { generateRealisticDay, seedConversationAudio, type SeededRow } from '@dcar/testing/seed';
import { startWebhookReceiver, type WebhookReceiver } from '@dcar/testing/webhook-receiver';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type DailyRecordings, type RunReportView } from '../src/api-client.js';
import { download } from '../src/download.js';
import { freePort, startService, waitUntilHealthy, type ServiceProcess } from '../src/processes.js';

// The whole system as an operator runs it: api, scheduler and two workers as separate processes
// on real PostgreSQL, Redis, ffmpeg and S3; one worker is SIGKILLed in the middle of the run.

const TENANTS = ['sys-alpha', 'sys-beta', 'sys-gamma'];
const day = previousUtcDay(new Date());

let environment: TestEnvironment;
let logDirectory: string;
const services: ServiceProcess[] = [];
const seeded = new Map<string, SeededRow[]>();
const applications = new Map<string, { clientId: string; clientSecret: string }>();
let client: ApiClient;
let workers: Array<{ process: ServiceProcess; metricsPort: number }> = [];
let receiver: WebhookReceiver;

beforeAll(async () => {
  environment = await createTestEnvironment();
  logDirectory = await mkdtemp(join(tmpdir(), 'dcar-system-'));
  const { knex, s3, config } = environment;
  for (const [index, tenantId] of TENANTS.entries()) {
    await putTenant(knex, tenantId, { name: tenantId });
    await setDailyAudioFeature(knex, tenantId, { enabled: true, retentionDays: 3 });
    const app = await createApplication(knex, tenantId, { name: 'system test' });
    applications.set(tenantId, { clientId: app.clientId, clientSecret: app.clientSecret });
    // Eight hours with audio per tenant, the rest empty: the day exercises both outcomes.
    const busyHours = [0, 3, 7, 9, 12, 14, 18, 23].map((h) => (h + index) % 24);
    const hours = generateRealisticDay({
      utcDay: day,
      seed: index + 11,
      conversations: 2,
      messagesPerSession: [2, 4],
      clipSeconds: [2, 6],
      emptyHours: Array.from({ length: 24 }, (_, h) => h).filter((h) => !busyHours.includes(h)),
    });
    seeded.set(tenantId, await seedConversationAudio({ knex, s3, bucket: config.s3.sourceBucket, tenantId, rows: [...hours.values()].flat() }));
  }

  receiver = await startWebhookReceiver();
  // The receiver is plain http on this machine, which only WEBHOOK_ALLOW_INSECURE allows.
  const env = {
    ...environment.env,
    LOG_LEVEL: 'info',
    API_PORT: String(await freePort()),
    SCHEDULER_METRICS_PORT: String(await freePort()),
    WEBHOOK_ALLOW_INSECURE: 'true',
  };
  const api = startService({ service: 'api', env, logDirectory });
  const scheduler = startService({ service: 'scheduler', env, logDirectory });
  services.push(api, scheduler);
  workers = await Promise.all(
    [1, 2].map(async (n) => {
      const metricsPort = await freePort();
      const process = startService({ service: 'worker', name: `worker-${n}`, env: { ...env, WORKER_METRICS_PORT: String(metricsPort) }, logDirectory });
      services.push(process);
      return { process, metricsPort };
    }),
  );
  client = new ApiClient(`http://127.0.0.1:${env.API_PORT}`);
  await Promise.all([
    waitUntilHealthy(api, `${client.baseUrl}/healthz`),
    waitUntilHealthy(scheduler, `http://127.0.0.1:${env.SCHEDULER_METRICS_PORT}/healthz`),
    ...workers.map((w) => waitUntilHealthy(w.process, `http://127.0.0.1:${w.metricsPort}/healthz`)),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop(10_000)));
  await receiver?.close();
  await environment?.close();
  if (logDirectory) await rm(logDirectory, { recursive: true, force: true });
});

/** Downloads an archive object through the S3 API to `target`; returns its bytes for hashing. */
async function downloadObject(key: string, target: string): Promise<Buffer> {
  const object = await environment.s3.send(new GetObjectCommand({ Bucket: environment.config.s3.archiveBucket, Key: key }));
  await pipeline(object.Body as Readable, createWriteStream(target));
  return readFile(target);
}

describe('the whole system', () => {
  it('survives a worker killed with SIGKILL mid-run: every hour ends available or no_data, every ZIP complete', async () => {
    const hostToken = await client.token(environment.config.auth.hostClientId, environment.config.auth.hostClientSecret);
    const hooked = TENANTS[0]!;
    const { secret } = await client.expect<{ secret: string }>(200, 'PUT', `/api/host/tenants/${hooked}/webhook`, hostToken, { url: receiver.url });
    const { runId } = await client.expect<{ runId: string }>(202, 'POST', '/api/host/daily-audio-recordings/runs', hostToken, { utcDay: day });

    // Kill a worker once the run is visibly under way and unfinished.
    await waitFor(
      async () => {
        const { available = 0, no_data = 0 } = (await client.expect<RunReportView>(200, 'GET', `/api/host/daily-audio-recordings/runs/${runId}`, hostToken))
          .counts;
        return available + no_data >= 6 ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100, what: 'the run to get under way' },
    );
    const victim = workers[0]!.process;
    victim.kill('SIGKILL');
    expect(await victim.exited).toBe('SIGKILL');

    const report = await waitFor(
      async () => {
        const r = await client.expect<RunReportView>(200, 'GET', `/api/host/daily-audio-recordings/runs/${runId}`, hostToken);
        return r.state === 'queued' || r.state === 'running' ? undefined : r;
      },
      { timeoutMs: 240_000, intervalMs: 500, what: 'the run to finish' },
    );
    expect(report.state).toBe('completed');
    expect(report.hours).toHaveLength(TENANTS.length * 24);

    // The tenant with a webhook hears of its day once, signed with its secret, from a worker process.
    const [delivery] = await waitFor(() => (receiver.received.length > 0 ? receiver.received : undefined), {
      timeoutMs: 30_000,
      what: 'the day.completed webhook',
    });
    const event = new Webhook(secret).verify(delivery!.body, delivery!.headers as Record<string, string>) as { type: string; data: Record<string, unknown> };
    const busyHours = new Set(seeded.get(hooked)!.map((r) => r.recordedAt.getUTCHours())).size;
    expect(event).toMatchObject({
      type: 'daily_audio_recordings.day.completed',
      data: {
        tenantId: hooked,
        utcDay: day,
        runId,
        availableHours: busyHours,
        noDataHours: 24 - busyHours,
        failedHours: [],
        totalFiles: seeded.get(hooked)!.length,
      },
    });
    const deliveries = await client.expect<Array<{ eventId: string; state: string }>>(200, 'GET', `/api/host/tenants/${hooked}/webhook/deliveries`, hostToken);
    expect(deliveries).toMatchObject([{ eventId: delivery!.headers['webhook-id'], state: 'delivered' }]);
    const metrics = await (await fetch(`http://127.0.0.1:${workers[1]!.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^dcar_webhook_deliveries_total\{outcome="failed",service="worker"\} 0$/m);

    for (const tenantId of TENANTS) {
      const rows = seeded.get(tenantId)!;
      const busy = new Set(rows.map((r) => r.recordedAt.getUTCHours()));
      const archives = await findArchiveRows(environment.knex, { tenantId, utcDay: day });
      expect(archives.map((a) => a.hour)).toEqual(Array.from({ length: 24 }, (_, h) => h));
      for (const archive of archives) {
        const hourRows = rows.filter((r) => r.recordedAt.getUTCHours() === archive.hour);
        if (!busy.has(archive.hour)) {
          expect(archive).toMatchObject({ status: 'no_data', file_count: 0, object_key: null });
          continue;
        }
        expect(archive.status).toBe('available');
        expect(archive.object_key).toBe(archiveKey(tenantId, day, archive.hour));
        const directory = await mkdtemp(join(tmpdir(), 'dcar-zip-'));
        try {
          const zipPath = join(directory, 'hour.zip');
          const bytes = await downloadObject(archive.object_key!, zipPath);
          expect(bytes.length).toBe(archive.size_bytes);
          expect(createHash('sha256').update(bytes).digest('hex')).toBe(archive.sha256);
          const entries = await readZipFile(zipPath);
          const metadata = archiveMetadataOf(entries);
          const files = metadata.sessions.flatMap((s) => s.files);
          expect(metadata).toMatchObject({ utcDay: day, hour: formatHour(archive.hour) });
          expect(files.map((f) => f.messageId).sort()).toEqual(hourRows.map((r) => String(r.messageId)).sort());
          expect(files.every((f) => f.status === 'converted')).toBe(true);
          expect(entries.every((e) => e.compressionMethod === 0 || e.name === 'metadata.json')).toBe(true);
          expect(
            entries
              .map((e) => e.name)
              .filter((p) => p !== 'metadata.json')
              .sort(),
          ).toEqual(files.map((f) => f.path).sort());
          expect(archive.file_count).toBe(hourRows.length);
        } finally {
          await rm(directory, { recursive: true, force: true });
        }
      }
    }
  }, 400_000);

  it('serves the day through the API: token, 24 links, a download through a link, checksums, an Opus entry', async () => {
    const tenantId = TENANTS[1]!;
    const app = applications.get(tenantId)!;
    const token = await client.token(app.clientId, app.clientSecret);
    const recordings = await client.expect<DailyRecordings>(200, 'GET', `/api/external/conversations/daily-audio-recordings/${day}`, token);
    expect(recordings.links.map((l) => l.hour)).toEqual(Array.from({ length: 24 }, (_, h) => formatHour(h)));
    const rows = seeded.get(tenantId)!;
    expect(recordings.totalFiles).toBe(rows.length);
    expect(recordings.retentionDays).toBe(3);
    const available = recordings.links.filter((l) => l.status === 'available');
    expect(available).toHaveLength(new Set(rows.map((r) => r.recordedAt.getUTCHours())).size);
    // Links to the API (DOWNLOAD_LINKS=api, the default), each the tenant's own hour.
    expect(
      available.every((l) => l.url && new URL(l.url).pathname === `/api/external/conversations/daily-audio-recordings/${day}/hours/${l.hour}/archive`),
    ).toBe(true);
    expect(available.every((l) => new URL(l.url!).searchParams.get('tenant') === tenantId)).toBe(true);

    const link = available[0]!;
    const zip = await download(link.url!);
    try {
      // The link redirected to the store; the bytes are the listed ones, and an entry's are metadata.json's.
      expect(zip.redirectedTo).toContain(`/${tenantId}/daily-conversation-audio-recordings/`);
      expect(zip.size).toBe(link.sizeBytes);
      expect(zip.sha256).toBe(link.sha256);
      const entries = await readZipFile(zip.path);
      const files = archiveMetadataOf(entries).sessions.flatMap((s) => s.files);
      expect(files).toHaveLength(link.fileCount);
      const listed = files.find((f) => f.path !== null)!;
      expect(
        createHash('sha256')
          .update(entries.find((e) => e.name === listed.path)!.content)
          .digest('hex'),
      ).toBe(listed.sha256);
      const opus = entries.find((e) => e.name.endsWith('.opus'))!;
      expect(opus.compressionMethod).toBe(0);
      await writeFile(`${zip.path}.opus`, opus.content);
      const probe = await probeAudioFile(`${zip.path}.opus`);
      expect(probe).toMatchObject({ formatName: 'ogg', codecName: 'opus', channels: 1 });
    } finally {
      await zip.cleanup();
    }
  }, 60_000);
});
