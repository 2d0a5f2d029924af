import { describe, expect, it } from 'vitest';
import {
  createDownloadLinkSigner,
  isLinkExpired,
  redactSignature,
  signDownloadLinkPath,
  verifyDownloadLink,
  type DownloadLinkClaims,
} from '../src/download-links.js';

const KEY = 'k'.repeat(40);
const OLD_KEY = 'o'.repeat(40);
const CLAIMS: DownloadLinkClaims = {
  tenantId: 'acme',
  clientId: 'app_1',
  issuer: 'own',
  utcDay: '2025-12-14' as DownloadLinkClaims['utcDay'],
  hour: 7,
  expiresAt: 1_765_800_000,
};

/** A link's path and query as the router and query parser would hand them to the route. */
function parse(link: string) {
  const url = new URL(link, 'http://api.example');
  const match = /\/daily-audio-recordings\/([^/]+)\/hours\/([^/]+)\/archive$/.exec(url.pathname);
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of url.searchParams) {
    const earlier = query[name];
    query[name] = earlier === undefined ? value : [...(Array.isArray(earlier) ? earlier : [earlier]), value];
  }
  return { utcDay: match?.[1], hour: match?.[2], query };
}

function tamper(link: string, edit: (url: URL) => void): string {
  const url = new URL(link, 'http://api.example');
  edit(url);
  return url.pathname + url.search;
}

describe('download links', () => {
  it('signs the hour’s path with tenant, application, expiry and a signature, and verifies it back', () => {
    const link = signDownloadLinkPath(CLAIMS, KEY);
    expect(link).toMatch(
      /^\/api\/external\/conversations\/daily-audio-recordings\/2025-12-14\/hours\/07\/archive\?tenant=acme&application=app_1&expires=1765800000&signature=[A-Za-z0-9_-]{43}$/,
    );
    expect(verifyDownloadLink(parse(link), [KEY])).toEqual(CLAIMS);
  });

  it('keeps an external issuer’s links apart from the API’s own', () => {
    const link = signDownloadLinkPath({ ...CLAIMS, issuer: 'external' }, KEY);
    expect(link).toContain('&issuer=external&');
    expect(verifyDownloadLink(parse(link), [KEY])).toMatchObject({ issuer: 'external' });
    expect(verifyDownloadLink(parse(tamper(link, (url) => url.searchParams.delete('issuer'))), [KEY])).toBeNull();
  });

  it('refuses any change to what was signed', () => {
    const link = signDownloadLinkPath(CLAIMS, KEY);
    const changed = [
      tamper(link, (url) => url.searchParams.set('tenant', 'other')),
      tamper(link, (url) => url.searchParams.set('application', 'app_2')),
      tamper(link, (url) => url.searchParams.set('expires', String(CLAIMS.expiresAt + 1))),
      tamper(link, (url) => (url.pathname = url.pathname.replace('/hours/07/', '/hours/08/'))),
      tamper(link, (url) => (url.pathname = url.pathname.replace('2025-12-14', '2025-12-13'))),
      tamper(link, (url) => url.searchParams.set('signature', `${url.searchParams.get('signature')!.slice(0, -1)}A`)),
    ];
    for (const candidate of changed) expect(verifyDownloadLink(parse(candidate), [KEY]), candidate).toBeNull();
  });

  it('refuses malformed links', () => {
    const link = signDownloadLinkPath(CLAIMS, KEY);
    const malformed = [
      tamper(link, (url) => url.searchParams.delete('signature')),
      tamper(link, (url) => url.searchParams.delete('tenant')),
      tamper(link, (url) => url.searchParams.delete('expires')),
      tamper(link, (url) => url.searchParams.append('tenant', 'acme')),
      tamper(link, (url) => url.searchParams.set('extra', '1')),
      tamper(link, (url) => url.searchParams.set('issuer', 'own')),
      tamper(link, (url) => url.searchParams.set('expires', '-5')),
      tamper(link, (url) => url.searchParams.set('signature', 'short')),
      tamper(link, (url) => url.searchParams.set('tenant', '../x')),
      tamper(link, (url) => (url.pathname = url.pathname.replace('/hours/07/', '/hours/24/'))),
      tamper(link, (url) => (url.pathname = url.pathname.replace('/hours/07/', '/hours/7/'))),
      tamper(link, (url) => (url.pathname = url.pathname.replace('2025-12-14', '2025-02-30'))),
    ];
    for (const candidate of malformed) expect(verifyDownloadLink(parse(candidate), [KEY]), candidate).toBeNull();
    expect(verifyDownloadLink({ utcDay: '2025-12-14', hour: '07', query: null }, [KEY])).toBeNull();
  });

  it('verifies links of a previous key during a rotation, and no other key’s', () => {
    const old = signDownloadLinkPath(CLAIMS, OLD_KEY);
    expect(verifyDownloadLink(parse(old), [KEY, OLD_KEY])).toEqual(CLAIMS);
    expect(verifyDownloadLink(parse(old), [KEY])).toBeNull();
  });

  it('expires at its expiry second, and a signer dates its links ttl seconds ahead of now', () => {
    expect(isLinkExpired(CLAIMS, new Date(CLAIMS.expiresAt * 1000 - 1))).toBe(false);
    expect(isLinkExpired(CLAIMS, new Date(CLAIMS.expiresAt * 1000))).toBe(true);
    const signer = createDownloadLinkSigner({ baseUrl: 'https://api.example.com/', key: KEY, ttlSeconds: 86_400 });
    const link = signer.sign({ tenantId: 'acme', clientId: 'app_1', issuer: 'own', utcDay: CLAIMS.utcDay, hour: 23 }, new Date('2025-12-15T10:00:00.900Z'));
    expect(link.startsWith('https://api.example.com/api/external/conversations/daily-audio-recordings/2025-12-14/hours/23/archive?')).toBe(true);
    expect(verifyDownloadLink(parse(link), [KEY])).toMatchObject({ hour: 23, expiresAt: Date.parse('2025-12-16T10:00:00Z') / 1000 });
  });

  it('is logged with its signature replaced', () => {
    const link = signDownloadLinkPath(CLAIMS, KEY);
    const logged = redactSignature(link);
    expect(logged).toBe(link.replace(/signature=[A-Za-z0-9_-]+/, 'signature=[redacted]'));
    expect(redactSignature('/healthz?a=1')).toBe('/healthz?a=1');
  });
});
