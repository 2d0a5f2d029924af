import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import {
  DestinationRefusedError,
  WEBHOOK_RETRY_SCHEDULE,
  checkDestination,
  createGuardedLookup,
  createSecretBox,
  generateWebhookSecret,
  isPublicAddress,
  parseWebhookUrl,
  webhookRetryDelayMs,
  webhookRetryWindowMs,
} from '../src/index.js';

const HOUR_MS = 3_600_000;

describe('retry schedule', () => {
  it('retries first within 30 s, backs off exponentially, and keeps trying for at least 24 hours', () => {
    for (const random of [() => 0, () => 0.999_999]) {
      expect(webhookRetryDelayMs(1, random)).toBeLessThanOrEqual(30_000);
      const delays = Array.from({ length: WEBHOOK_RETRY_SCHEDULE.attempts - 1 }, (_, i) => webhookRetryDelayMs(i + 1, () => 0));
      for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThanOrEqual(delays[i - 1]!);
      expect(delays[1]! / delays[0]!).toBe(WEBHOOK_RETRY_SCHEDULE.factor);
    }
    // Jitter only ever lengthens a delay, so the shortest schedule is the one without it.
    expect(webhookRetryWindowMs(WEBHOOK_RETRY_SCHEDULE.attempts, () => 0)).toBeGreaterThanOrEqual(24 * HOUR_MS);
    expect(webhookRetryWindowMs(WEBHOOK_RETRY_SCHEDULE.attempts, () => 0.999_999)).toBeLessThan(30 * HOUR_MS);
    expect(Math.max(...Array.from({ length: 20 }, (_, i) => webhookRetryDelayMs(i + 1, () => 0)))).toBe(4 * HOUR_MS);
  });
});

describe('public addresses', () => {
  it.each([
    '127.0.0.1',
    '127.8.9.10',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '192.0.2.10',
    '198.18.0.1',
    '240.0.0.1',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '::ffff:7f00:1',
    '::127.0.0.1',
    '2002:7f00:1::',
    '64:ff9b::a00:1',
    '2001:db8::1',
    '[::1]',
    'not-an-address',
    '',
  ])('refuses %s', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['93.184.216.34', '8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '[2a00:1450::1]'])('accepts %s', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });
});

function resolver(table: Record<string, string[]>) {
  return (hostname: string): Promise<LookupAddress[]> => {
    const addresses = table[hostname];
    if (!addresses) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    return Promise.resolve(addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DestinationRefusedError);
  return (error as Error).message;
}

describe('webhook URLs', () => {
  const strict = { allowInsecure: false };
  const insecure = { allowInsecure: true };

  it('must be absolute https:// URLs without credentials unless insecure URLs are allowed', () => {
    expect(parseWebhookUrl('https://hooks.example.com/dcar?x=1', strict).toString()).toBe('https://hooks.example.com/dcar?x=1');
    expect(() => parseWebhookUrl('http://hooks.example.com/dcar', strict)).toThrow('url must start with https://');
    expect(() => parseWebhookUrl('ftp://hooks.example.com/', strict)).toThrow('url must start with https://');
    expect(() => parseWebhookUrl('/relative', strict)).toThrow(/absolute URL/);
    expect(() => parseWebhookUrl('https://user:pass@hooks.example.com/', strict)).toThrow('url must not contain credentials');
    expect(() => parseWebhookUrl(`https://hooks.example.com/${'a'.repeat(2048)}`, strict)).toThrow(/at most 2048/);
    expect(parseWebhookUrl('http://127.0.0.1:8080/hook', insecure).toString()).toBe('http://127.0.0.1:8080/hook');
    expect(() => parseWebhookUrl('ftp://127.0.0.1/', insecure)).toThrow('url must start with https:// or http://');
  });

  it('must resolve to public addresses only, every one of them, unless insecure URLs are allowed', { timeout: 60_000 }, async () => {
    const resolve = resolver({
      'hooks.example.com': ['93.184.216.34', '2606:2800:220:1::1'],
      'internal.example.com': ['10.0.0.5'],
      'mixed.example.com': ['93.184.216.34', '127.0.0.1'],
      'v6-local.example.com': ['::1'],
    });
    const check = (url: string, policy = strict) => checkDestination(new URL(url), policy, resolve);
    await expect(check('https://hooks.example.com/x')).resolves.toBe('public');
    await expect(check('https://93.184.216.34/x')).resolves.toBe('public');
    expect(await refusal(check('https://internal.example.com/x'))).toMatch(/internal\.example\.com resolves to 10\.0\.0\.5/);
    expect(await refusal(check('https://mixed.example.com/x'))).toMatch(/resolves to 127\.0\.0\.1/);
    expect(await refusal(check('https://v6-local.example.com/x'))).toMatch(/resolves to ::1/);
    expect(await refusal(check('https://127.0.0.1/x'))).toMatch(/127\.0\.0\.1 resolves to 127\.0\.0\.1/);
    expect(await refusal(check('https://[::ffff:169.254.169.254]/latest'))).toMatch(/not public/);
    expect(await refusal(check('https://[fd00::1]/x'))).toMatch(/not public/);
    // Names that are local or private by definition, whatever this machine's resolver says.
    for (const name of ['localhost', 'api.localhost', 'LOCALHOST.', 'printer.local', 'db.internal', 'nas.home.arpa']) {
      expect(await refusal(check(`https://${name}/x`))).toBe(`url must name a public host: ${name.toLowerCase()} is a local or private-use name`);
    }
    // A name that does not resolve now breaks no rule: the connection's own DNS step checks it (below).
    await expect(check('https://nowhere.example.com/x')).resolves.toBe('unresolved');
    await expect(check('https://notlocalhost.example.com/x')).resolves.toBe('unresolved');
    // Nor does a resolver that never answers hold the registration.
    const silent = (): Promise<LookupAddress[]> => new Promise(() => undefined);
    await expect(checkDestination(new URL('https://slow.example.com/x'), strict, silent)).resolves.toBe('unresolved');
    await expect(check('http://127.0.0.1/x', insecure)).resolves.toBe('public');
  });

  it('are checked again in the connection’s own DNS step', async () => {
    const lookup = createGuardedLookup(resolver({ 'rebound.example.com': ['127.0.0.1'], 'hooks.example.com': ['93.184.216.34', '2606:2800:220:1::1'] }));
    const call = (hostname: string, options: { all?: boolean; family?: number }) =>
      new Promise<{ error: Error | null; address: unknown; family?: number | undefined }>((resolve) =>
        lookup(hostname, options, (error, address, family) => resolve({ error, address, family })),
      );
    const refused = await call('rebound.example.com', { all: true });
    expect(refused.error).toBeInstanceOf(DestinationRefusedError);
    expect(refused.error?.message).toBe('refused to connect: rebound.example.com resolves to 127.0.0.1, which is not a public address');
    expect(await call('hooks.example.com', { all: true })).toMatchObject({
      error: null,
      address: [
        { address: '93.184.216.34', family: 4 },
        { address: '2606:2800:220:1::1', family: 6 },
      ],
    });
    expect(await call('hooks.example.com', { family: 6 })).toEqual({ error: null, address: '2606:2800:220:1::1', family: 6 });
    expect((await call('unknown.example.com', {})).error?.message).toMatch(/ENOTFOUND/);
  });
});

describe('webhook secrets', () => {
  it('are whsec_ and 32 random bytes, stored encrypted and bound to their tenant', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(secret);

    const box = createSecretBox('k'.repeat(40));
    const sealed = box.seal('acme', secret);
    expect(sealed).not.toContain(secret.slice(6, 20));
    expect(box.seal('acme', secret)).not.toBe(sealed);
    expect(box.open('acme', sealed)).toBe(secret);
    expect(() => box.open('globex', sealed)).toThrow();
    expect(() => createSecretBox('x'.repeat(40)).open('acme', sealed)).toThrow();
    expect(() =>
      box.open(
        'acme',
        sealed.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
      ),
    ).toThrow();
  });
});
