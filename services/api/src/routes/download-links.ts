import { findLinkedHour } from '@dcar/archives';
import { DownloadLinkAnswers, DownloadLinkParams, DownloadLinkQuery } from '@dcar/api-schemas';
import { ContractMessages, UserFacingError, archiveKey, formatHour, isBeyondRetention } from '@dcar/domain';
import { findTenantAccess } from '@dcar/host';
import type { Knex } from '@dcar/platform';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import http from 'node:http';
import https from 'node:https';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessAuditWriter } from '../audit.js';
import { DOWNLOAD_LINK_PATH, isLinkExpired, verifyDownloadLink, type DownloadLinkClaims } from '../download-links.js';
import type { Presigner } from '../presign.js';
import { unreadableLinkParts } from './daily-recordings.js';

/** What the link endpoint established about a request, for its redirect and its audit record. */
interface LinkOutcome {
  /** The verified link; null while (or because) it is not. */
  claims: DownloadLinkClaims | null;
  /** The archive a 302 points at. */
  objectKey: string | null;
  sha256: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    downloadLink: LinkOutcome | null;
  }
}

export interface DownloadLinkRouteDeps {
  db: Knex;
  audit: AccessAuditWriter;
  /** DOWNLOAD_LINK_KEY first, then DOWNLOAD_LINK_PREVIOUS_KEYS. */
  keys: readonly string[];
  /** Presigned store GETs for S3_PUBLIC_ENDPOINT, valid DOWNLOAD_REDIRECT_TTL_SECONDS. */
  redirectPresigner: Presigner;
  /** Asks the store whether it still holds an archive's ZIP. */
  archiveProbe: ArchiveProbe;
  now: () => Date;
}

/** How long the API waits for the store to say whether a ZIP exists before redirecting anyway. */
const ARCHIVE_CHECK_TIMEOUT_MS = 5000;

/** `missing` only when the store says so; `unknown` when it could not tell (refused, failed, too slow). */
export type ArchiveProbe = (key: string) => Promise<'present' | 'missing' | 'unknown'>;

/**
 * Whether the store holds `key`: a GET of its first byte through a URL presigned in-process for
 * the services' own address of the store, over kept-alive connections of its own. A HeadObject
 * through the SDK cost the API 1.3 ms of CPU per link (its middleware and signing), the same GET
 * through `fetch` ~1.0 ms, and through `node:http` ~0.45 ms (a loop of 3,000 checks against the
 * embedded store, `process.cpuUsage`). The check is kept for the contract's 404 when a ZIP was
 * removed from the store behind the database's back.
 */
export function createArchiveProbe(presigner: Presigner, storeEndpoint: string): { probe: ArchiveProbe; close(): void } {
  const secure = new URL(storeEndpoint).protocol === 'https:';
  const agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 64 }) : new http.Agent({ keepAlive: true, maxSockets: 64 });
  const request = secure ? https.request : http.request;
  const status = (url: string): Promise<number> =>
    new Promise<number>((resolve, reject) => {
      const outgoing = request(url, { agent, headers: { range: 'bytes=0-0' } }, (response) => {
        response.on('error', reject);
        response.on('end', () => resolve(response.statusCode ?? 0));
        // Cut off mid-body (by the deadline or the store): no answer. Settling twice is a no-op.
        response.on('close', () => reject(new Error('the store closed the answer before its end')));
        // One byte, or the store's short error document: read to the end so the connection is reused.
        response.resume();
      });
      // A plain timer, not AbortSignal.timeout: its DOMException and abort machinery cost ~0.03 ms per check.
      const deadline = setTimeout(
        () => outgoing.destroy(new Error(`no answer from the store within ${String(ARCHIVE_CHECK_TIMEOUT_MS)} ms`)),
        ARCHIVE_CHECK_TIMEOUT_MS,
      );
      outgoing.on('close', () => clearTimeout(deadline));
      outgoing.on('error', reject);
      outgoing.end();
    });
  return {
    probe: async (key) => {
      try {
        const code = await status(presigner.presignGet(key, new Date()));
        if (code === 404) return 'missing';
        // 206 (or 200 from a store that ignores ranges): there; anything else (403 without list
        // permission, 5xx): the store did not say.
        return code >= 200 && code < 300 ? 'present' : 'unknown';
      } catch {
        return 'unknown';
      }
    },
    close: () => agent.destroy(),
  };
}

/**
 * False only when the store says the object does not exist (a ZIP removed behind the database's
 * back: by hand, or by a lifecycle rule of the bucket), so the link answers the contract's 404
 * instead of redirecting to the store's own 404. Any other trouble asking is no answer: the
 * redirect goes ahead and the store, which the client reaches itself, decides.
 */
async function archiveInStore(deps: DownloadLinkRouteDeps, request: FastifyRequest, key: string): Promise<boolean> {
  const state = await deps.archiveProbe(key);
  if (state === 'missing') request.log.warn({ key }, 'download link of an available hour whose ZIP is not in the store');
  if (state === 'unknown') request.log.warn({ key }, 'could not check that the ZIP is in the store; redirecting anyway');
  return state !== 'missing';
}

/** A text of the request as sent, bounded, for the audit record of a link that could not be verified. */
function claimed(value: unknown, length = 100): string | null {
  return typeof value === 'string' ? value.slice(0, length) : null;
}

/**
 * The checks of CONTRACT §4.4, in its order: the link (403 malformed, badly signed or of a revoked
 * application), its validity (401), the feature (403), the archive (404: its row, then the store
 * itself). The tenant's settings with the application, and the hour's row with its day's
 * generatedAt and expiry, are read in one round trip of two queries at once.
 */
async function checkLink(deps: DownloadLinkRouteDeps, request: FastifyRequest): Promise<void> {
  const outcome: LinkOutcome = { claims: null, objectKey: null, sha256: null };
  request.downloadLink = outcome;
  const params = request.params as { utcDay?: unknown; hour?: unknown } | undefined;
  const claims = verifyDownloadLink({ utcDay: params?.utcDay, hour: params?.hour, query: request.query as Record<string, unknown> }, deps.keys);
  if (!claims) throw new UserFacingError(403, ContractMessages.downloadLinkInvalid);

  const [access, linked] = await Promise.all([
    findTenantAccess(deps.db, { tenantId: claims.tenantId, clientId: claims.issuer === 'own' ? claims.clientId : null }),
    findLinkedHour(deps.db, claims.tenantId, claims.utcDay, claims.hour),
  ]);
  // A link dies with the application that obtained it, as its tokens do.
  if (claims.issuer === 'own' && access.clientTenantId !== claims.tenantId) throw new UserFacingError(403, ContractMessages.downloadLinkInvalid);
  outcome.claims = claims;
  const now = deps.now();
  if (isLinkExpired(claims, now)) throw new UserFacingError(401, ContractMessages.downloadLinkExpired);
  if (!access.feature?.enabled) throw new UserFacingError(403, ContractMessages.featureDisabled);

  const key = archiveKey(claims.tenantId, claims.utcDay, claims.hour);
  const row = linked.hour;
  const expired =
    linked.dayExpired || isBeyondRetention({ day: claims.utcDay, generatedAt: linked.dayGeneratedAt, retentionDays: access.feature.retentionDays, now });
  if (expired || row?.status !== 'available' || row.objectKey !== key) throw new UserFacingError(404, ContractMessages.beyondRetention);
  if (!(await archiveInStore(deps, request, key))) throw new UserFacingError(404, ContractMessages.beyondRetention);
  outcome.objectKey = key;
  outcome.sha256 = row.sha256;
}

/**
 * Every answer is recorded before it leaves, as the daily endpoint's are: if its record cannot be
 * written, the request answers 500 instead, so no download goes unaccounted for.
 */
async function recordDownload(audit: AccessAuditWriter, request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const outcome = request.downloadLink;
  const claims = outcome?.claims ?? null;
  const query = (request.query ?? {}) as Record<string, unknown>;
  // A path the router could not read reached the route with placeholders: the record keeps what was sent.
  const params = unreadableLinkParts(request) ?? ((request.params ?? {}) as { utcDay?: unknown; hour?: unknown });
  // The whole segment must be an hour: a long one starting with two digits is not.
  const rawHour = typeof params.hour === 'string' && /^(?:[01][0-9]|2[0-3])$/.test(params.hour) ? Number(params.hour) : null;
  try {
    await audit.record({
      action: 'download',
      tenant_id: claims?.tenantId ?? claimed(query.tenant, 64),
      client_id: claims?.clientId ?? claimed(query.application),
      utc_day: claims?.utcDay ?? claimed(params.utcDay, 64),
      hour: claims?.hour ?? rawHour,
      status_code: reply.statusCode,
      archive_sha256: reply.statusCode === 302 ? (outcome?.sha256 ?? null) : null,
      remote_address: request.ip,
      user_agent: request.headers['user-agent']?.slice(0, 512) ?? null,
      request_id: request.id,
    });
    return payload;
  } catch {
    reply.code(500).removeHeader('location').header('content-type', 'application/json; charset=utf-8');
    return JSON.stringify({ error: ContractMessages.internal });
  }
}

/**
 * `GET` and `HEAD` on a download link (CONTRACT §4.4). The link is the credential: no bearer token,
 * and no rate limit. A valid link answers 302 to a short-lived presigned URL of the ZIP.
 */
export function registerDownloadLinkRoute(app: FastifyInstance, deps: DownloadLinkRouteDeps): void {
  app.decorateRequest('downloadLink', null);
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    DOWNLOAD_LINK_PATH,
    {
      schema: {
        tags: ['external'],
        operationId: 'getDailyAudioRecordingArchive',
        summary: 'Download an hour’s ZIP through the link the daily endpoint gave (GET or HEAD)',
        description:
          'The link is the credential (no Authorization header), like a presigned URL, valid DOWNLOAD_LINK_TTL_SECONDS. ' +
          'Checks run in this order: the link (403 malformed, badly signed, or its application revoked), its validity (401), ' +
          'the feature (403), the archive (404); otherwise 302 to a presigned store URL valid DOWNLOAD_REDIRECT_TTL_SECONDS. ' +
          'HEAD answers the same without a body. Not counted against the hourly limit; every answer is audited.',
        params: DownloadLinkParams,
        querystring: DownloadLinkQuery,
        response: DownloadLinkAnswers,
      },
      // Every check runs before the schemas do: a link that is malformed in any way answers the
      // contract's 403, never a validation 400.
      onRequest: async (request, reply) => {
        reply.header('cache-control', 'no-store');
        await checkLink(deps, request);
      },
      onSend: async (request, reply, payload) => recordDownload(deps.audit, request, reply, payload),
    },
    async (request, reply) => {
      const outcome = request.downloadLink;
      if (!outcome?.claims || !outcome.objectKey) throw new Error('download link handler reached without a checked link');
      const { claims } = outcome;
      request.log.info(
        { tenantId: claims.tenantId, utcDay: claims.utcDay, hour: formatHour(claims.hour), clientId: claims.clientId },
        'download link redirected',
      );
      return reply.redirect(deps.redirectPresigner.presignGet(outcome.objectKey, deps.now()), 302);
    },
  );
}
