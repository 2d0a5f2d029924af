// `pnpm bench:api`: the daily-recordings endpoint for many tenants with 24 available hours each,
// and the download link endpoint's redirect (one link per request, spread over 2,000 tenant-hours),
// beside a bare Fastify route, under autocannon at 32 connections; and the cost of signing a day's
// 24 links with the SDK versus the in-process presigner. Prints figures; asserts nothing.
// The API runs as `pnpm start:api` does, in a process of its own, so autocannon does not share its event loop.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { fileURLToPath } from 'node:url';
import { insertArchiveRows } from '@dcar/archives/test-fixtures';
import { archiveKey, utcDayOf } from '@dcar/domain';
import { createTestEnvironment, freePort, REPOSITORY_ROOT, sourceCommand } from '@dcar/testing';
import autocannon from 'autocannon';
import { signDownloadLinkPath } from '../src/download-links.js';
import { createSigV4Presigner } from '../src/presign.js';
import { createSdkPresignClient, sdkPresignGet } from '../test/sdk-presign.js';
import { OWN_ISSUER, signingKeyId } from '../src/auth/access-tokens.js';
import { DAILY, hs256Token } from '../test/helpers.js';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 5000);
const DURATION_SECONDS = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = 32;
/** Tenant-hours whose links the link endpoint's run follows (each with its ZIP in the store). */
const LINKED_HOURS = 2000;

interface Figures {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Answers other than the expected status (2xx, or 302 for the link endpoint). */
  unexpected: number;
  /** CPU time of the API process per answered request (only when a process was watched). */
  apiCpuMsPerRequest?: number;
}

/** User + system CPU milliseconds a process has used so far (Linux /proc; clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function load(
  url: string | string[],
  headersFor: (i: number) => Record<string, string>,
  maxRequests?: number,
  options: { pathFor?: (i: number) => string; expected?: number; apiPid?: number } = {},
): Promise<Figures> {
  let i = 0;
  const cpuBefore = options.apiPid ? processCpuMs(options.apiPid) : 0;
  const result = await autocannon({
    // autocannon spreads its connections over several URLs; its types only admit one.
    url: url as string,
    connections: CONNECTIONS,
    duration: DURATION_SECONDS,
    ...(maxRequests ? { amount: maxRequests } : {}),
    requests: [
      {
        setupRequest: (request) => {
          const n = i++;
          return { ...request, ...(options.pathFor ? { path: options.pathFor(n) } : {}), headers: { ...request.headers, ...headersFor(n) } };
        },
      },
    ],
  });
  const answered = result.requests.total;
  const expected =
    options.expected === undefined
      ? answered - result.non2xx
      : ((result.statusCodeStats as Record<string, { count: number }>)[String(options.expected)]?.count ?? 0);
  const apiCpuMsPerRequest = options.apiPid ? (processCpuMs(options.apiPid) - cpuBefore) / answered : undefined;
  return { requestsPerSecond: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, unexpected: answered - expected, apiCpuMsPerRequest };
}

function cpuMsPer(iterations: number, work: () => void | Promise<void>): Promise<number> {
  return (async () => {
    const start = process.cpuUsage();
    for (let n = 0; n < iterations; n++) await work();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000 / iterations;
  })();
}

/** Starts a server script with the test environment's variables; resolves once it answers `probePath`. */
async function startServer(script: string, env: Record<string, string>, probePath: string): Promise<{ address: string; child: ChildProcess }> {
  const port = await freePort();
  const { command, args } = sourceCommand(fileURLToPath(new URL(script, import.meta.url)));
  const child = spawn(command, args, {
    cwd: REPOSITORY_ROOT,
    env: { ...process.env, ...env, API_PORT: String(port), API_HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const address = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${address}${probePath}`)).ok) return { address, child };
    } catch {
      if (Date.now() > deadline) throw new Error(`${script} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const env = await createTestEnvironment();
const children: ChildProcess[] = [];
const now = new Date();
const day = utcDayOf(new Date(now.getTime() - 86_400_000));
try {
  process.stdout.write(`seeding ${TENANTS} tenants x 24 available hours...\n`);
  const tenantIds = Array.from({ length: TENANTS }, (_, i) => `bench-${i}`);
  // 200 tenants per statement: 4,800 archive rows stay under PostgreSQL’s 65,535 bind parameters.
  for (let offset = 0; offset < TENANTS; offset += 200) {
    const chunk = tenantIds.slice(offset, offset + 200);
    await env.knex('tenants').insert(chunk.map((id) => ({ id, name: id })));
    await env.knex('tenant_feature_settings').insert(chunk.map((id) => ({ tenant_id: id, daily_audio_recordings_enabled: true, retention_days: 3 })));
    await env
      .knex('api_clients')
      .insert(chunk.map((id) => ({ client_id: `app_${id}`, tenant_id: id, name: 'bench', secret_hash: 'unused', scopes: ['dataservice_external'] })));
    await insertArchiveRows(
      env.knex,
      chunk.flatMap((id) =>
        Array.from({ length: 24 }, (_, hour) => ({
          tenant_id: id,
          utc_day: day,
          hour,
          status: 'available' as const,
          session_count: 12,
          file_count: 67,
          size_bytes: 15_360_000,
          object_key: archiveKey(id, day, hour),
          sha256: 'ab'.repeat(32),
          generated_at: now,
          attempts: 1,
        })),
      ),
    );
  }
  const key = env.config.auth.signingKey;
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const tokens = tenantIds.map((id) =>
    hs256Token({ alg: 'HS256', kid: signingKeyId(key) }, { iss: OWN_ISSUER, sub: `app_${id}`, tenant_id: id, scope: 'dataservice_external', exp }, key),
  );

  const api = await startServer('../src/main.ts', env.env, '/healthz');
  const bare = await startServer('./bare-server.ts', env.env, '/bare');
  children.push(api.child, bare.child);
  const apiAddress = api.address;
  const bareAddress = bare.address;

  // Warm-up: JIT, connection pools, prepared plans.
  await load(`${bareAddress}/bare`, () => ({}), 2000);
  await load(`${apiAddress}/healthz`, () => ({}), 2000);
  const bareFigures = await load(`${bareAddress}/bare`, () => ({}));
  // Each tenant may make RATE_LIMIT_PER_HOUR requests: the run stops before any tenant reaches it.
  const budget = TENANTS * env.config.api.rateLimitPerHour;
  const endpointFigures = await load(`${apiAddress}${DAILY}/${day}`, (i) => ({ authorization: `Bearer ${tokens[i % TENANTS]}` }), budget, {
    apiPid: api.child.pid,
  });
  // The link endpoint: each request one of 2,000 tenant-hours' links, spread over the tenants, as
  // clients following their days' links would send them; every answer a 302 to the store (links are
  // not rate limited). The endpoint asks the store whether the ZIP still exists (a 404 otherwise), so
  // those hours' objects are stored.
  const linkExpiry = Math.floor(Date.now() / 1000) + 3600;
  const linkedHours = [
    ...new Map(
      Array.from({ length: LINKED_HOURS }, (_, k) => [`${(k * 37) % TENANTS}:${k % 24}`, { id: tenantIds[(k * 37) % TENANTS]!, hour: k % 24 }]),
    ).values(),
  ];
  for (let offset = 0; offset < linkedHours.length; offset += 16) {
    await Promise.all(
      linkedHours
        .slice(offset, offset + 16)
        .map(({ id, hour }) => env.s3.send(new PutObjectCommand({ Bucket: env.config.s3.archiveBucket, Key: archiveKey(id, day, hour), Body: 'zip' }))),
    );
  }
  const links = linkedHours.map(({ id, hour }) =>
    signDownloadLinkPath({ tenantId: id, clientId: `app_${id}`, issuer: 'own', utcDay: day, hour, expiresAt: linkExpiry }, env.config.downloads.linkKey),
  );
  await load(`${apiAddress}/healthz`, () => ({}), 2000, { pathFor: (i) => links[(i * 7919) % links.length]!, expected: 302 });
  const linkFigures = await load(`${apiAddress}/healthz`, () => ({}), undefined, {
    pathFor: (i) => links[(i * 7919) % links.length]!,
    expected: 302,
    apiPid: api.child.pid,
  });

  // The API scales out: two replicas on one Redis, autocannon spreading its connections over both.
  // They count the limit under a fresh key prefix, so the run above has not used up any tenant's quota.
  const replicaEnv = { ...env.env, REDIS_PREFIX: `${env.redisPrefix}r2` };
  const replicas = [await startServer('../src/main.ts', replicaEnv, '/healthz'), await startServer('../src/main.ts', replicaEnv, '/healthz')];
  children.push(...replicas.map((r) => r.child));
  await Promise.all(replicas.map((r) => load(`${r.address}/healthz`, () => ({}), 2000)));
  const replicasFigures = await load(
    replicas.map((r) => `${r.address}${DAILY}/${day}`),
    (i) => ({ authorization: `Bearer ${tokens[i % TENANTS]}` }),
    budget,
  );

  const presignClient = createSdkPresignClient(env.config.s3);
  const presigner = createSigV4Presigner({ ...env.config.s3, endpoint: env.config.s3.publicEndpoint, bucket: env.config.s3.archiveBucket });
  const keys = Array.from({ length: 24 }, (_, hour) => archiveKey('bench-0', day, hour));
  const sdkMs = await cpuMsPer(200, async () => {
    const signingDate = new Date();
    await Promise.all(keys.map((k) => sdkPresignGet(presignClient, { bucket: env.config.s3.archiveBucket, key: k, signingDate })));
  });
  const ownMs = await cpuMsPer(5000, () => {
    const signingDate = new Date();
    for (const k of keys) presigner.presignGet(k, signingDate);
  });

  const row = (name: string, f: Figures) =>
    `${name.padEnd(34)} ${f.requestsPerSecond.toFixed(0).padStart(8)} req/s   p50 ${String(f.p50).padStart(4)} ms   p99 ${String(f.p99).padStart(4)} ms   unexpected ${f.unexpected}` +
    (f.apiCpuMsPerRequest === undefined ? '' : `   API CPU ${f.apiCpuMsPerRequest.toFixed(2)} ms/request`);
  const endpointCpu = endpointFigures.apiCpuMsPerRequest ?? 0;
  const linkCpu = linkFigures.apiCpuMsPerRequest ?? 0;
  process.stdout.write(
    [
      '',
      `API benchmark: ${TENANTS} tenants x 24 available hours, autocannon ${CONNECTIONS} connections, ${DURATION_SECONDS} s per run`,
      row('bare Fastify route', bareFigures),
      row('GET daily-audio-recordings/{day}', endpointFigures),
      row('  same, 2 API replicas', replicasFigures),
      row('GET a download link (302)', linkFigures),
      `presigning a day's 24 URLs (CPU per day): AWS SDK getSignedUrl ${sdkMs.toFixed(2)} ms, in-process SigV4 ${ownMs.toFixed(3)} ms`,
      `goal: endpoint p99 < 25 ms -> one replica: ${endpointFigures.p99 < 25 ? 'met' : 'NOT met'}, two replicas: ${replicasFigures.p99 < 25 ? 'met' : 'NOT met'}`,
      // The redirect asks the store whether the ZIP is still there; here the embedded store runs on the
      // same two cores (in this process), so requests/s counts its work too, which a real store does elsewhere.
      `goal: a link's redirect costs the API less than the daily endpoint -> ${linkCpu < endpointCpu ? 'met' : 'NOT met'} ` +
        `(${(linkCpu / endpointCpu).toFixed(2)}x its API CPU per request; ${(linkFigures.requestsPerSecond / endpointFigures.requestsPerSecond).toFixed(2)}x its requests/s with the store on this machine)`,
      '',
    ].join('\n'),
  );
  presignClient.destroy();
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))));
  await env.close();
}
