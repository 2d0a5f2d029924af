import { connect } from 'node:net';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './helpers.js';

// A replica that is shutting down still answers requests already on an open connection: with the
// contract's { "error" } body, like every other error answer (Fastify's own 503 has more keys).

let env: TestEnvironment;
let api: TestApi | undefined;

beforeAll(async () => {
  env = await createTestEnvironment();
});

afterAll(async () => {
  await api?.close().catch(() => undefined);
  await env?.close();
});

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('a closing API', () => {
  it('answers a request that arrives on an open connection with 503 and an { "error" } body', async () => {
    api = await startTestApi(env);
    const address = new URL(await api.app.listen({ port: 0, host: '127.0.0.1' }));
    const socket = connect(Number(address.port), address.hostname);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));

    // A request whose headers are still on their way keeps the connection open while the API closes.
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const app = api.app;
    const closed = app.close();
    await until(() => !app.server.listening, 'the server to stop listening');
    socket.write('Connection: close\r\n\r\n');
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await closed;

    const answer = Buffer.concat(received).toString('utf8');
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(answer).toMatch(/\r\ncontent-type: application\/json/i);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ error: 'Service unavailable: the server is shutting down.' });
  });
});
