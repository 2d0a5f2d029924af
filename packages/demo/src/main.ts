import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { PutWebhookAnswer, WebhookWithSecret } from '@dcar/api-schemas';
import { addUtcDays, previousUtcDay, startOfUtcDay, type UtcDay } from '@dcar/domain';
import {
  DEVELOPMENT_HOST_CLIENT_SECRET,
  createKnex,
  createS3Client,
  ensureBuckets,
  ensureDatabase,
  loadConfigOrExit,
  loadSystemConfig,
  migrateToLatest,
} from '@dcar/platform';
import { startLocalS3, type LocalS3 } from '@dcar/platform/local-s3';
import { archiveMetadataOf, probeAudioFile, readZipFile } from '@dcar/testing/archive';
import { generateRealisticDay, seedConversationAudio } from '@dcar/testing/seed';
import { startWebhookReceiver, type WebhookReceiver } from '@dcar/testing/webhook-receiver';
import { Webhook } from 'standardwebhooks';
import { ApiClient, type DailyRecordings, type RunReportView } from './api-client.js';
import { download } from './download.js';
import { adminEnvironment, demoTenants, nextSteps } from './next-steps.js';
import { freePort, startService, waitUntilHealthy, type ServiceProcess } from './processes.js';
import { runProgress } from './progress.js';

// `pnpm demo`: the whole nightly job on this machine with synthetic data, end to end, through
// the real services started as separate processes.

const started = Date.now();
const say = (message: string) => process.stdout.write(`[demo ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);

const dataDirectory = resolve('.data/demo');
const logDirectory = resolve(dataDirectory, 'logs');
const children: ServiceProcess[] = [];
let embeddedStore: LocalS3 | null = null;
let webhookReceiver: WebhookReceiver | null = null;
let cleaningUp: Promise<void> | null = null;

function cleanUp(): Promise<void> {
  cleaningUp ??= (async () => {
    await Promise.all(children.map((child) => child.stop(10_000)));
    await embeddedStore?.close();
    await webhookReceiver?.close();
  })();
  return cleaningUp;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping the services`);
    void cleanUp().then(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const env: Record<string, string> = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  if (!env.S3_ENDPOINT) {
    const port = (await isPortFree(9000)) ? 9000 : await freePort();
    embeddedStore = await startLocalS3({
      port,
      directory: resolve('.data/s3'),
      credentials: { accessKeyId: env.S3_ACCESS_KEY_ID ?? 'minioadmin', secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? 'minioadmin' },
    });
    env.S3_ENDPOINT = embeddedStore.endpoint;
    say(`embedded S3 store (s3rver) on ${embeddedStore.endpoint}, data under .data/s3`);
  }
  env.API_PORT = env.API_PORT ?? String((await isPortFree(3000)) ? 3000 : await freePort());
  env.LOG_LEVEL = env.LOG_LEVEL ?? 'info';
  // In a terminal the services' logs (.data/demo/logs) are pino-pretty's readable lines; scripted, JSON.
  env.LOG_FORMAT = env.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json');
  // The demo runs every service with this one environment: check it for all of them up front.
  const config = loadConfigOrExit(loadSystemConfig, env);

  say('migrating the database');
  await ensureDatabase(config.databaseUrl);
  const knex = createKnex(config.databaseUrl);
  const s3 = createS3Client(config.s3);
  try {
    await migrateToLatest(knex);
    await ensureBuckets(s3, [config.s3.sourceBucket, config.s3.archiveBucket]);

    const day: UtcDay = previousUtcDay(new Date());
    const tenants = demoTenants(new Date());

    say(`writing a day of synthetic conversations for ${day} (the recording platform's part)`);
    for (const tenant of tenants) {
      // The demo owns these tenants: their rows of that day are replaced, so a run is repeatable.
      await knex('conversation_audio_files')
        .where({ tenant_id: tenant.id })
        .andWhere('recorded_at', '>=', startOfUtcDay(day))
        .andWhere('recorded_at', '<', startOfUtcDay(addUtcDays(day, 1)))
        .delete();
      const hours = generateRealisticDay({ utcDay: day, seed: tenant.seed, conversations: 2, messagesPerSession: [2, 5], clipSeconds: [2, 8] });
      const rows = [...hours.values()].flat();
      const seeded = await seedConversationAudio({ knex, s3, bucket: config.s3.sourceBucket, tenantId: tenant.id, rows });
      const emptyHours = [...hours.entries()].filter(([, r]) => r.length === 0).map(([h]) => String(h).padStart(2, '0'));
      say(`  ${tenant.id}: ${seeded.length} audio files in ${24 - emptyHours.length} hours; empty hours: ${emptyHours.join(', ') || 'none'}`);
    }

    say('starting the services: api, scheduler, 2 workers');
    // The demo's webhook receiver is plain http on 127.0.0.1, which production refuses.
    const serviceEnv = { ...env, SCHEDULER_METRICS_PORT: String(await freePort()), WEBHOOK_ALLOW_INSECURE: 'true' };
    const api = startService({ service: 'api', env: serviceEnv, logDirectory });
    const scheduler = startService({ service: 'scheduler', env: serviceEnv, logDirectory });
    children.push(api, scheduler);
    const workerPorts = [await freePort(), await freePort()];
    workerPorts.forEach((port, index) =>
      children.push(startService({ service: 'worker', name: `worker-${index + 1}`, env: { ...serviceEnv, WORKER_METRICS_PORT: String(port) }, logDirectory })),
    );
    const baseUrl = `http://127.0.0.1:${config.api.port}`;
    await Promise.all([
      waitUntilHealthy(api, `${baseUrl}/healthz`),
      waitUntilHealthy(scheduler, `http://127.0.0.1:${serviceEnv.SCHEDULER_METRICS_PORT}/healthz`),
      ...workerPorts.map((port, index) => waitUntilHealthy(children[2 + index]!, `http://127.0.0.1:${port}/healthz`)),
    ]);
    say(`  services are up; logs in ${logDirectory}`);

    const client = new ApiClient(baseUrl);
    const hostToken = await client.token(config.auth.hostClientId, config.auth.hostClientSecret);
    const applications: Record<string, { clientId: string; clientSecret: string }> = {};
    for (const tenant of tenants) {
      const put = await client.request('PUT', `/api/host/tenants/${tenant.id}`, hostToken, { name: tenant.name });
      if (put.status !== 200 && put.status !== 201) throw new Error(`PUT tenant ${tenant.id} answered ${put.status}`);
      await client.expect(200, 'PUT', `/api/host/tenants/${tenant.id}/features/daily-audio-recordings`, hostToken, {
        enabled: true,
        retentionDays: tenant.retentionDays,
      });
      applications[tenant.id] = await client.expect(201, 'POST', `/api/host/tenants/${tenant.id}/applications`, hostToken, {
        name: 'demo compliance export',
        scopes: ['dataservice_external'],
      });
    }
    say(`tenants ${tenants.map((t) => t.id).join(' and ')} enabled, each with an application`);

    // The tenant's side of webhooks: a receiver, registered for the first tenant. The secret is shown
    // when the webhook is created (or its secret rotated).
    webhookReceiver = await startWebhookReceiver();
    const hooked = tenants[0]!;
    const webhookPath = `/api/host/tenants/${hooked.id}/webhook`;
    const registered = await client.expect<PutWebhookAnswer>(200, 'PUT', webhookPath, hostToken, { url: webhookReceiver.url, enabled: true });
    const webhookSecret = registered.secret ?? (await client.expect<WebhookWithSecret>(200, 'POST', `${webhookPath}/rotate-secret`, hostToken)).secret;
    say(`${hooked.id} registered a webhook at ${webhookReceiver.url}`);

    say(`running the nightly flow for ${day}`);
    const { runId } = await client.expect<{ runId: string }>(202, 'POST', '/api/host/daily-audio-recordings/runs', hostToken, {
      utcDay: day,
      tenantIds: tenants.map((t) => t.id),
    });
    const report = await followRun(client, hostToken, runId);
    say(`run ${runId} ${report.state}: ${JSON.stringify(report.counts)}`);
    if (report.state !== 'completed') throw new Error(`the run ended ${report.state}; see ${logDirectory}`);
    await showDayCompleted(webhookReceiver, webhookSecret, runId);

    const tenant = tenants[0]!;
    const app = applications[tenant.id]!;
    const issued = await client.issueToken(app.clientId, app.clientSecret);
    const token = issued.access_token;
    const recordings = await client.expect<DailyRecordings>(200, 'GET', `/api/external/conversations/daily-audio-recordings/${day}`, token);
    const available = recordings.links.filter((l) => l.status === 'available');
    say(
      `${tenant.id} fetched ${day}: ${available.length} hours available, ${recordings.links.filter((l) => l.status === 'no_data').length} no_data; ` +
        `${recordings.totalFiles} files in ${recordings.totalSessions} sessions, ${recordings.totalSizeBytes} bytes; expires ${recordings.expiresAt}`,
    );

    const link = available[0];
    if (!link?.url) throw new Error('no hour is available');
    const zip = await download(link.url);
    try {
      const entries = await readZipFile(zip.path);
      const metadata = archiveMetadataOf(entries);
      const audio = entries.filter((e) => e.name !== 'metadata.json');
      const fileEntries = metadata.sessions.flatMap((s) => s.files);
      if (zip.size !== link.sizeBytes) throw new Error(`downloaded ${zip.size} bytes, the API said ${link.sizeBytes}`);
      if (zip.sha256 !== link.sha256) throw new Error(`the ZIP's SHA-256 is ${zip.sha256}, the API listed ${link.sha256}`);
      if (fileEntries.length !== link.fileCount) throw new Error(`metadata lists ${fileEntries.length} files, the API said ${link.fileCount}`);
      // Custody: an entry's bytes in the ZIP hash to the sha256 metadata.json lists for it.
      const listed = fileEntries.find((file) => file.path !== null && file.sha256 !== null);
      const entry = listed ? entries.find((e) => e.name === listed.path) : undefined;
      if (!listed || !entry) throw new Error('metadata.json lists no stored entry');
      const entrySha256 = createHash('sha256').update(entry.content).digest('hex');
      if (entrySha256 !== listed.sha256) throw new Error(`${listed.path} hashes to ${entrySha256}, metadata.json lists ${listed.sha256}`);
      const first = audio.find((e) => e.name.endsWith('.opus'));
      if (!first) throw new Error('the ZIP holds no .opus file');
      const opusPath = `${zip.path}.opus`;
      await writeFile(opusPath, first.content);
      const probe = await probeAudioFile(opusPath);
      if (zip.redirectedTo) say(`hour ${link.hour}'s link answered 302 to the store (${new URL(zip.redirectedTo).origin})`);
      say(
        `downloaded hour ${link.hour}: ${zip.size} bytes, ${audio.length} audio entries + metadata.json (${metadata.totalSessions} sessions, revision ${metadata.revision})`,
      );
      say(`  sha256 ${zip.sha256} matches the listing; ${listed.path} matches metadata.json's sha256 ${entrySha256.slice(0, 16)}…`);
      say(
        `  ffprobe ${first.name}: ${probe.formatName}/${probe.codecName}, ${probe.channels} channel, ${Math.round(probe.bitRate / 1000)} kbps, ${probe.durationSeconds.toFixed(1)} s`,
      );
    } finally {
      await zip.cleanup();
    }

    say('done.');
    const admin = adminEnvironment(process.env);
    // A URL with a password stays unprinted, as the host's secret does: the admin line then needs it from the shell.
    if (admin.hidden.length > 0) say(`pnpm admin needs the ${admin.hidden.join(' and ')} the demo ran with (not printed: it holds a password)`);
    const steps = nextSteps({
      baseUrl,
      day,
      tenantId: tenant.id,
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      token,
      tokenExpiresAt: new Date(Date.now() + issued.expires_in * 1000),
      hostClientId: config.auth.hostClientId,
      // The demo prints development credentials only: a secret someone set stays unprinted.
      developmentHostSecret: config.auth.hostClientSecret === DEVELOPMENT_HOST_CLIENT_SECRET ? config.auth.hostClientSecret : null,
      adminEnvironment: admin.variables,
    });
    process.stdout.write(`${steps.join('\n')}\n`);
  } finally {
    s3.destroy();
    await knex.destroy();
  }
}

async function followRun(client: ApiClient, hostToken: string, runId: string): Promise<RunReportView> {
  const deadline = Date.now() + 15 * 60_000;
  let last = '';
  while (Date.now() < deadline) {
    const report = await client.expect<RunReportView>(200, 'GET', `/api/host/daily-audio-recordings/runs/${runId}`, hostToken);
    const line = `  ${runProgress(report)}`;
    if (line !== last) say(line);
    last = line;
    if (report.state !== 'queued' && report.state !== 'running') return report;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`run ${runId} did not finish within 15 minutes`);
}

/** Waits for the run's day.completed at the receiver and verifies it as an integrator would, with standardwebhooks. */
async function showDayCompleted(receiver: WebhookReceiver, secret: string, runId: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  const verifier = new Webhook(secret);
  while (Date.now() < deadline) {
    for (const request of receiver.received) {
      // Throws on a wrong signature: the demo then fails, as it should.
      const event = verifier.verify(request.body, request.headers as Record<string, string>) as { type: string; data: { runId: string } };
      if (event.type === 'daily_audio_recordings.day.completed' && event.data.runId === runId) {
        say(`webhook ${event.type} arrived (webhook-id ${String(request.headers['webhook-id'])}), signature verified with standardwebhooks:`);
        say(`  ${JSON.stringify(event.data)}`);
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no day.completed webhook for run ${runId} within 30 s; see ${logDirectory}`);
}

async function isPortFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

// Interactive: the services stay up for the commands above until Ctrl-C. Scripted (no TTY) or
// with --exit: stop them and exit.
const keepRunning = process.stdin.isTTY === true && !process.argv.includes('--exit');
try {
  await main();
  if (keepRunning) {
    say('services keep running; press Ctrl-C to stop them');
    await new Promise(() => undefined);
  }
  await cleanUp();
} catch (error) {
  process.stderr.write(`demo failed: ${(error as Error).message}\n`);
  await cleanUp();
  process.exitCode = 1;
}
