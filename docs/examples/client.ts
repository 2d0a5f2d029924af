/**
 * A client of the Daily Conversation Audio Recordings API, as an integrator would write it: get a
 * token (OAuth2 client credentials), read a UTC day's 24 hourly entries, download every available
 * hour's ZIP and check it against the SHA-256 the API listed for it.
 *
 *   DCAR_CLIENT_ID=… DCAR_CLIENT_SECRET=… node docs/examples/client.ts [YYYY-MM-DD]
 *
 * Node.js 22.18 or later runs it as is (TypeScript types are stripped); no dependency beyond Node.
 * Settings: DCAR_API_URL (default http://127.0.0.1:3000), DCAR_CLIENT_ID, DCAR_CLIENT_SECRET,
 * DCAR_OUT (default ./recordings); the day defaults to yesterday (UTC). ZIPs land in
 * DCAR_OUT/<day>/<HH>.zip. Exit code 0 when every available hour was downloaded and verified.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

interface HourLink {
  hour: string;
  status: 'available' | 'no_data' | 'pending' | 'failed';
  url: string | null;
  sha256: string | null;
  sizeBytes: number;
  fileCount: number;
}

interface DailyRecordings {
  date: string;
  totalFiles: number;
  expiresAt: string | null;
  links: HourLink[];
}

/** An answer other than the one expected: the API's `{ "error": "…" }` message, with what to do for the usual ones. */
async function failure(what: string, response: Response, kind: 'api' | 'link' = 'api'): Promise<Error> {
  const body = (await response.json().catch(() => ({}))) as { error?: string };
  const hints: Record<number, string> =
    kind === 'link'
      ? {
          // A download link's own answers (it carries no token, and does not count against the limit).
          401: 'the link expired: ask for the day again to get fresh links',
          403: 'the link was altered or its application revoked, or the feature was disabled for the tenant',
          404: 'retention removed the archive',
        }
      : {
          401: 'check the client id and secret, or get a new token',
          403: 'the application lacks the dataservice_external scope, or the feature is disabled for the tenant',
          404: 'the day is older than the tenant’s retention',
          429: `the tenant’s hourly request limit is used up; retry after ${response.headers.get('retry-after') ?? '?'} s`,
        };
  const hint = hints[response.status] ? ` (${hints[response.status]})` : '';
  return new Error(`${what}: HTTP ${response.status} ${body.error ?? ''}${hint}`);
}

async function getToken(apiUrl: string, clientId: string, clientSecret: string): Promise<string> {
  const response = await fetch(`${apiUrl}/connect/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, scope: 'dataservice_external' }),
  });
  if (!response.ok) throw await failure('token request', response);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function getDay(apiUrl: string, token: string, day: string): Promise<DailyRecordings> {
  const response = await fetch(`${apiUrl}/api/external/conversations/daily-audio-recordings/${day}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (!response.ok) throw await failure(`day ${day}`, response);
  return (await response.json()) as DailyRecordings;
}

/**
 * Streams one hour's ZIP to `path` while hashing it; the file keeps its name only when the SHA-256
 * matches the listing. The link is its own credential: no Authorization header goes with it, and
 * redirects (a link to the API answers with one to the store) are followed.
 */
async function downloadVerified(link: HourLink, path: string): Promise<{ bytes: number; sha256: string }> {
  const response = await fetch(link.url!, { redirect: 'follow' });
  if (!response.ok || !response.body) throw await failure(`hour ${link.hour}`, response, 'link');
  const hash = createHash('sha256');
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const partial = `${path}.partial`;
  await pipeline(Readable.fromWeb(response.body), hashing, createWriteStream(partial));
  const sha256 = hash.digest('hex');
  if (sha256 !== link.sha256) {
    await rm(partial, { force: true });
    throw new Error(`hour ${link.hour}: SHA-256 ${sha256} does not match the listed ${link.sha256}`);
  }
  await rename(partial, path);
  return { bytes, sha256 };
}

async function main(): Promise<void> {
  const apiUrl = (process.env.DCAR_API_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '');
  const clientId = process.env.DCAR_CLIENT_ID;
  const clientSecret = process.env.DCAR_CLIENT_SECRET;
  if (!clientId || !clientSecret) throw new Error('set DCAR_CLIENT_ID and DCAR_CLIENT_SECRET (from `pnpm admin app create <tenant> --name <name>`)');
  const day = process.argv[2] ?? new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  const directory = join(process.env.DCAR_OUT ?? 'recordings', day);

  const token = await getToken(apiUrl, clientId, clientSecret);
  const recordings = await getDay(apiUrl, token, day);
  const available = recordings.links.filter((link) => link.status === 'available');
  const others = recordings.links.filter((link) => link.status !== 'available').map((link) => `${link.hour} ${link.status}`);
  console.log(`${day}: ${available.length} hours available, ${recordings.totalFiles} files; archives expire ${recordings.expiresAt ?? '-'}`);
  if (others.length > 0) console.log(`  not downloaded: ${others.join(', ')}`);

  await mkdir(directory, { recursive: true });
  for (const link of available) {
    const path = join(directory, `${link.hour}.zip`);
    const { bytes, sha256 } = await downloadVerified(link, path);
    console.log(`  ${link.hour}: ${path} ${bytes} bytes, sha256 ${sha256} verified`);
  }
  console.log(`verified ${available.length} of ${available.length} available hours of ${day}`);
}

main().catch((error: unknown) => {
  console.error(`error: ${(error as Error).message}`);
  process.exitCode = 1;
});
