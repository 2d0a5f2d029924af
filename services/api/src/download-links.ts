import { createHmac, timingSafeEqual } from 'node:crypto';
import { TENANT_ID_PATTERN, formatHour, parseUtcDay, type UtcDay } from '@dcar/domain';

/**
 * Download links to the API (CONTRACT §4.4): pure signing and verification, no I/O.
 *
 * A link is `{base}/api/external/conversations/daily-audio-recordings/{utcDay}/hours/{HH}/archive`
 * with the query `tenant`, `application`, `issuer` (only for an external issuer's token),
 * `expires` (Unix seconds) and `signature`: base64url HMAC-SHA256, under the link key, of
 * `dcar-download-link-v1`, tenant, application, issuer, day, hour and expiry, one per line. The
 * link itself is the credential, like a presigned URL: whoever holds it may download that one hour
 * until it expires.
 */

export const DOWNLOAD_LINK_PATH = '/api/external/conversations/daily-audio-recordings/:utcDay/hours/:hour/archive';

const SIGNATURE_CONTEXT = 'dcar-download-link-v1';
/** base64url of 32 bytes. */
const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const TENANT_ID = new RegExp(TENANT_ID_PATTERN);
const EXPIRES_PATTERN = /^[1-9][0-9]{0,11}$/;
const HOUR_PATTERN = /^(?:[01][0-9]|2[0-3])$/;
const MAX_APPLICATION_LENGTH = 100;

export type LinkIssuer = 'own' | 'external';

/** What a link grants: one tenant-hour, obtained by one application, until `expiresAt` (Unix seconds). */
export interface DownloadLinkClaims {
  tenantId: string;
  /** The client id of the application whose token obtained the link. */
  clientId: string;
  /** Who issued that application's token: this API (`own`), or the external OpenID issuer. */
  issuer: LinkIssuer;
  utcDay: UtcDay;
  hour: number;
  expiresAt: number;
}

function signature(key: string, claims: DownloadLinkClaims): Buffer {
  const text = [SIGNATURE_CONTEXT, claims.tenantId, claims.clientId, claims.issuer, claims.utcDay, formatHour(claims.hour), String(claims.expiresAt)].join(
    '\n',
  );
  return createHmac('sha256', key).update(text, 'utf8').digest();
}

/** The link's path and query (no origin) for `claims`, signed with `key`. */
export function signDownloadLinkPath(claims: DownloadLinkClaims, key: string): string {
  const query = new URLSearchParams({ tenant: claims.tenantId, application: claims.clientId });
  if (claims.issuer === 'external') query.set('issuer', 'external');
  query.set('expires', String(claims.expiresAt));
  query.set('signature', signature(key, claims).toString('base64url'));
  return `${DOWNLOAD_LINK_PATH.replace(':utcDay', claims.utcDay).replace(':hour', formatHour(claims.hour))}?${query.toString()}`;
}

/** A signer for the links of one configuration: `baseUrl` is where clients reach the API. */
export function createDownloadLinkSigner(options: { baseUrl: string; key: string; ttlSeconds: number }) {
  const base = options.baseUrl.replace(/\/+$/, '');
  return {
    /** The link to one hour, valid `ttlSeconds` from `now`. */
    sign(claims: Omit<DownloadLinkClaims, 'expiresAt'>, now: Date): string {
      const expiresAt = Math.floor(now.getTime() / 1000) + options.ttlSeconds;
      return base + signDownloadLinkPath({ ...claims, expiresAt }, options.key);
    },
  };
}

export type DownloadLinkSigner = ReturnType<typeof createDownloadLinkSigner>;

/** A link's parts as the router and the query parser hand them over. */
export interface DownloadLinkRequest {
  utcDay: unknown;
  hour: unknown;
  /** The parsed query; a repeated parameter arrives as an array (and is malformed). */
  query: Record<string, unknown> | null | undefined;
}

/**
 * The claims of a link whose signature is right under one of `keys` (the current key first, then
 * those of a rotation), or null when it is malformed or its signature is wrong. Signatures are
 * compared in constant time. Expiry is not checked here: the endpoint answers an expired link
 * with its own status, after the checks that come first.
 */
export function verifyDownloadLink(request: DownloadLinkRequest, keys: readonly string[]): DownloadLinkClaims | null {
  const { query } = request;
  if (!query || typeof request.utcDay !== 'string' || typeof request.hour !== 'string') return null;
  const { tenant, application, issuer, expires, signature: sent } = query;
  const allowed = new Set(['tenant', 'application', 'issuer', 'expires', 'signature']);
  if (Object.keys(query).some((name) => !allowed.has(name))) return null;
  if (typeof tenant !== 'string' || !TENANT_ID.test(tenant)) return null;
  if (typeof application !== 'string' || application.length === 0 || application.length > MAX_APPLICATION_LENGTH) return null;
  if (issuer !== undefined && issuer !== 'external') return null;
  if (typeof expires !== 'string' || !EXPIRES_PATTERN.test(expires)) return null;
  if (typeof sent !== 'string' || !SIGNATURE_PATTERN.test(sent)) return null;
  const utcDay = parseUtcDay(request.utcDay);
  if (!utcDay || !HOUR_PATTERN.test(request.hour)) return null;

  const claims: DownloadLinkClaims = {
    tenantId: tenant,
    clientId: application,
    issuer: issuer === 'external' ? 'external' : 'own',
    utcDay,
    hour: Number(request.hour),
    expiresAt: Number(expires),
  };
  const given = Buffer.from(sent, 'base64url');
  if (given.length !== 32) return null;
  // Every key is tried, whichever matches, so the time taken does not tell which one did.
  let valid = false;
  for (const key of keys) valid = timingSafeEqual(signature(key, claims), given) || valid;
  return valid ? claims : null;
}

/** True once the link is past its validity. */
export function isLinkExpired(claims: Pick<DownloadLinkClaims, 'expiresAt'>, now: Date): boolean {
  return now.getTime() >= claims.expiresAt * 1000;
}

/** A URL with a download link's signature replaced, fit for a log line (the link is a credential). */
export function redactSignature(url: string): string {
  return url.replace(/([?&]signature=)[^&#]*/gi, '$1[redacted]');
}
