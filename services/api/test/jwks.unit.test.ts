import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwksKeySource } from '../src/auth/jwks.js';

// An issuer's JWKS endpoint on a local port, counting its requests: no other system involved.
const first = generateKeyPairSync('rsa', { modulusLength: 2048 });
const second = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = (key: KeyObject, kid: string) => ({ ...key.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' });
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();

let published = [jwk(first.publicKey, 'k1')];
let requests = 0;
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((_request, response) => {
    requests += 1;
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('the JWKS key source', () => {
  it('fetches once for any number of lookups, concurrent ones included, and answers PEM', async () => {
    published = [jwk(first.publicKey, 'k1')];
    requests = 0;
    const source = createJwksKeySource({ url });
    const answers = await Promise.all([source.publicKeyPem('k1'), source.publicKeyPem('k1'), source.publicKeyPem('k1')]);
    expect(answers).toEqual([pem(first.publicKey), pem(first.publicKey), pem(first.publicKey)]);
    expect(await source.publicKeyPem('k1')).toBe(pem(first.publicKey));
    expect(requests).toBe(1);
  });

  it('fetches again for an unknown key id once the minimum interval has passed (the issuer rotated)', async () => {
    published = [jwk(first.publicKey, 'k1')];
    requests = 0;
    const source = createJwksKeySource({ url, minRefreshMs: 0 });
    await source.publicKeyPem('k1');
    published = [jwk(first.publicKey, 'k1'), jwk(second.publicKey, 'k2')];
    expect(await source.publicKeyPem('k2')).toBe(pem(second.publicKey));
    expect(requests).toBe(2);
  });

  it('does not fetch again for made-up key ids within the minimum interval, and names the missing key', async () => {
    published = [jwk(first.publicKey, 'k1')];
    requests = 0;
    const source = createJwksKeySource({ url, minRefreshMs: 3_600_000 });
    await source.publicKeyPem('k1');
    for (const kid of ['made-up-1', 'made-up-2', 'made-up-3']) await expect(source.publicKeyPem(kid)).rejects.toThrow(`no signing key ${kid}`);
    expect(requests).toBe(1);
  });

  it('fails a lookup when the endpoint cannot be reached, with the key id in the message', async () => {
    const source = createJwksKeySource({ url: 'http://127.0.0.1:9/jwks.json', timeoutMs: 2000 });
    await expect(source.publicKeyPem('k1')).rejects.toThrow(/no signing key k1/);
  });
});
