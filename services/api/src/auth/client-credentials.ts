import { createHash, timingSafeEqual } from 'node:crypto';
import { Scopes } from '@dcar/domain';
import { findApiClient } from '@dcar/host';
import { hashSecret, verifySecret, type AuthConfig, type Knex } from '@dcar/platform';
import { readBasicCredentials } from './basic.js';

/** An OAuth2 error (RFC 6749 §5.2): the body is `{"error": code}`. */
export class OAuthError extends Error {
  constructor(
    readonly statusCode: 400 | 401,
    readonly code: 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope',
  ) {
    super(code);
    this.name = 'OAuthError';
  }
}

export interface AuthenticatedClient {
  clientId: string;
  tenantId: string | null;
  allowedScopes: string[];
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Equal-length digests make the comparison constant-time whatever the lengths of the inputs. */
function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Checks a client's credentials: the host's client against the configuration, tenant applications
 * against their stored argon2 hash. Unknown and revoked clients cost the same hash verification as a
 * known one, so response times do not tell which client ids exist.
 */
export function createClientAuthenticator(db: Knex, auth: AuthConfig) {
  let decoyHash: Promise<string> | null = null;
  return async (clientId: string, clientSecret: string): Promise<AuthenticatedClient> => {
    if (secretsEqual(clientId, auth.hostClientId)) {
      if (!secretsEqual(clientSecret, auth.hostClientSecret)) throw new OAuthError(401, 'invalid_client');
      return { clientId: auth.hostClientId, tenantId: null, allowedScopes: [Scopes.hostAdmin] };
    }
    const client = await findApiClient(db, clientId);
    if (!client) {
      decoyHash ??= hashSecret('decoy secret: never matches a real client');
      await verifySecret(await decoyHash, clientSecret);
      throw new OAuthError(401, 'invalid_client');
    }
    const valid = await verifySecret(client.secretHash, clientSecret);
    if (!valid || client.revoked) throw new OAuthError(401, 'invalid_client');
    return { clientId: client.clientId, tenantId: client.tenantId, allowedScopes: client.scopes.filter((s) => s !== Scopes.hostAdmin) };
  };
}

/** The scopes to grant: the requested ones when all are allowed (else invalid_scope), or all allowed ones. */
export function grantScopes(requested: string | undefined, allowed: string[]): string[] {
  const asked = (requested ?? '').split(' ').filter(Boolean);
  if (asked.length === 0) {
    if (allowed.length === 0) throw new OAuthError(400, 'invalid_scope');
    return allowed;
  }
  if (!asked.every((scope) => allowed.includes(scope))) throw new OAuthError(400, 'invalid_scope');
  return [...new Set(asked)];
}

/** A client id and secret, as a client authentication method carried them. */
export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
  method: 'basic' | 'body';
  /**
   * Basic's user and password exactly as sent, when form-decoding them (RFC 6749 §2.3.1) gave
   * something else: curl -u, Postman and most HTTP clients do not form-encode, so a secret with
   * `+`, `%` (or a base64 secret's `+ / =`) is tried both ways. Null otherwise.
   */
  asSent: { clientId: string; clientSecret: string } | null;
}

function formDecode(value: string): string | null {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

/**
 * Client credentials from HTTP Basic (RFC 6749 §2.3.1: form-encoded id and secret, then base64) or
 * from the body; null when none were sent. Using both methods at once is refused.
 */
export function readClientCredentials(
  authorization: string | undefined,
  body: { client_id?: string | undefined; client_secret?: string | undefined },
): ClientCredentials | null {
  const basic = readBasicCredentials(authorization);
  const inBody = body.client_id !== undefined || body.client_secret !== undefined;
  if (authorization !== undefined && !basic) throw new OAuthError(401, 'invalid_client');
  if (basic) {
    if (inBody) throw new OAuthError(400, 'invalid_request');
    const clientId = formDecode(basic.user);
    const clientSecret = formDecode(basic.password);
    const sent = { clientId: basic.user, clientSecret: basic.password };
    // Not form-encoded at all (a `%` not followed by two hex digits): only the credentials as sent.
    if (clientId === null || clientSecret === null) return { ...sent, method: 'basic', asSent: null };
    const same = clientId === sent.clientId && clientSecret === sent.clientSecret;
    return { clientId, clientSecret, method: 'basic', asSent: same ? null : sent };
  }
  if (!inBody) return null;
  if (!body.client_id || body.client_secret === undefined) throw new OAuthError(401, 'invalid_client');
  return { clientId: body.client_id, clientSecret: body.client_secret, method: 'body', asSent: null };
}
