import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createTestS3 } from '@dcar/testing';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigV4Presigner } from '../src/presign.js';
import { createArchiveProbe } from '../src/routes/download-links.js';

/** The link endpoint's question to the store (is the hour's ZIP still there?), asked of a real store and of stores that misbehave. */
let store: Awaited<ReturnType<typeof createTestS3>>;
const servers: Server[] = [];

beforeAll(async () => {
  store = await createTestS3();
});
afterAll(async () => {
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  await store?.close();
});

function probeOf(endpoint: string, bucket: string) {
  const presigner = createSigV4Presigner({
    endpoint,
    region: 'us-east-1',
    accessKeyId: 'minioadmin',
    secretAccessKey: 'minioadmin',
    bucket,
    expiresInSeconds: 60,
  });
  return createArchiveProbe(presigner, endpoint);
}

/** A store that answers every request with `answer`. */
async function misbehavingStore(answer: (response: import('node:http').ServerResponse) => void): Promise<string> {
  const server = createServer((_request, response) => answer(response));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
}

describe('the archive probe', () => {
  it('says present for a stored ZIP, missing for one that is not there, many times over kept-alive connections', async () => {
    const s3 = new S3Client({
      endpoint: store.store.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'minioadmin', secretAccessKey: 'minioadmin' },
    });
    await s3.send(
      new PutObjectCommand({ Bucket: store.archiveBucket, Key: 'acme/daily-conversation-audio-recordings/2026/11/21/14.zip', Body: Buffer.alloc(70_000, 7) }),
    );
    s3.destroy();
    const archive = probeOf(store.store.endpoint, store.archiveBucket);
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        archive.probe(
          i % 2 === 0 ? 'acme/daily-conversation-audio-recordings/2026/11/21/14.zip' : 'acme/daily-conversation-audio-recordings/2026/11/21/15.zip',
        ),
      ),
    );
    archive.close();
    expect(answers.filter((answer) => answer === 'present')).toHaveLength(20);
    expect(answers.filter((answer) => answer === 'missing')).toHaveLength(20);
    expect(answers.every((answer, i) => answer === (i % 2 === 0 ? 'present' : 'missing'))).toBe(true);
  });

  it('cannot tell (unknown) when the store refuses, fails, or cuts its answer short', async () => {
    const refusing = await misbehavingStore((response) =>
      response.writeHead(403, { 'content-type': 'application/xml' }).end('<Error><Code>AccessDenied</Code></Error>'),
    );
    const failing = await misbehavingStore((response) => response.writeHead(503).end());
    const cutShort = await misbehavingStore((response) => {
      response.writeHead(206, { 'content-length': '10' });
      response.write('x');
      response.socket?.destroy();
    });
    for (const endpoint of [refusing, failing, cutShort]) {
      const archive = probeOf(endpoint, 'archives');
      expect(await archive.probe('acme/x.zip'), endpoint).toBe('unknown');
      archive.close();
    }
    const closedPort = await misbehavingStore(() => undefined);
    const server = servers.pop()!;
    server.close();
    const nobody = probeOf(closedPort, 'archives');
    expect(await nobody.probe('acme/x.zip')).toBe('unknown');
    nobody.close();
  });

  it('gives up on a store that accepts the connection and never answers, within its bound', async () => {
    const silent = await misbehavingStore(() => undefined);
    const archive = probeOf(silent, 'archives');
    expect(await archive.probe('acme/x.zip')).toBe('unknown');
    archive.close();
  }, 30_000);

  it('gives up on a store that sends the headers and never the body, within its bound', async () => {
    const stalled = await misbehavingStore((response) => {
      response.writeHead(206, { 'content-length': '1' });
      response.flushHeaders();
    });
    const archive = probeOf(stalled, 'archives');
    expect(await archive.probe('acme/x.zip')).toBe('unknown');
    archive.close();
  }, 30_000);
});
