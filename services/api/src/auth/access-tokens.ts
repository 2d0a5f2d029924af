import { createHash } from 'node:crypto';
import { ContractMessages, Scopes, UserFacingError, isValidTenantId } from '@dcar/domain';
import type { AuthConfig } from '@dcar/platform';
import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BearerTokenRefused, hasBearerToken } from './bearer-challenge.js';
import type { JwksKeySource } from './jwks.js';

/** `iss` of the tokens this API issues; an external issuer's tokens carry theirs. */
export const OWN_ISSUER = 'dcar-api';

/** Who is calling, as a verified token says. `tenantId` is null for the host and for tokens without a valid tenant. */
export interface Principal {
  clientId: string;
  tenantId: string | null;
  scopes: ReadonlySet<string>;
  issuer: 'own' | 'external';
}

export interface OwnTokenClaims {
  sub: string;
  scope: string;
  tenant_id?: string;
}

/**
 * Key id of a signing key: lets a token name the key it was signed with, so during a rotation
 * the previous keys verify old tokens without trying every key. A hash prefix, never the key.
 */
export function signingKeyId(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 16);
}

function unauthorized(): UserFacingError {
  return new UserFacingError(401, ContractMessages.unauthorized);
}

type TokenOrHeader = { header: { alg?: unknown; kid?: unknown }; payload: { iss?: unknown } } | { alg?: unknown; kid?: unknown };

/**
 * Registers @fastify/jwt: own tokens are signed HS256 with the current key and verified with the
 * current or a previous key (by `kid`); an external issuer's tokens (by `iss`) only RS256 with a key
 * from its JWKS. Each issuer is held to its one algorithm, so `alg: none`, HS256 tokens "signed"
 * with a public key and other algorithm swaps find no key.
 */
export async function registerAccessTokens(app: FastifyInstance, auth: AuthConfig, jwks: JwksKeySource | null): Promise<void> {
  const ownKeys = new Map([auth.signingKey, ...auth.previousSigningKeys].map((key) => [signingKeyId(key), key]));
  const external = auth.external;

  const verificationKey = async (_request: FastifyRequest, token: TokenOrHeader): Promise<string> => {
    if (!('header' in token)) throw unauthorized();
    const { alg, kid } = token.header;
    const issuer = token.payload.iss;
    if (issuer === OWN_ISSUER && alg === 'HS256' && typeof kid === 'string') {
      const key = ownKeys.get(kid);
      if (key) return key;
    }
    if (external && jwks && issuer === external.issuer && alg === 'RS256' && typeof kid === 'string') {
      return jwks.publicKeyPem(kid);
    }
    throw unauthorized();
  };

  await app.register(fastifyJwt, {
    secret: { private: auth.signingKey, public: verificationKey },
    sign: { algorithm: 'HS256', kid: signingKeyId(auth.signingKey), iss: OWN_ISSUER, expiresIn: `${auth.tokenTtlSeconds}s` },
    decode: { complete: true },
    // RFC 6750 §2.1: `Bearer 1*SP token`; the plugin's own reading accepts exactly one space.
    verify: { algorithms: ['HS256', 'RS256'], requiredClaims: ['exp', 'iss'], extractToken: bearerTokenOf },
  });
}

/** The token of an `Authorization: Bearer <token>` header (scheme in any case, one or more spaces); undefined otherwise. */
function bearerTokenOf(request: FastifyRequest): string | undefined {
  return /^Bearer +(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
}

function scopesOf(claims: Record<string, unknown>): string[] {
  if (typeof claims.scope === 'string') return claims.scope.split(' ').filter(Boolean);
  if (Array.isArray(claims.scp)) return claims.scp.filter((s): s is string => typeof s === 'string');
  if (typeof claims.scp === 'string') return claims.scp.split(' ').filter(Boolean);
  return [];
}

function tenantOf(value: unknown): string | null {
  return typeof value === 'string' && isValidTenantId(value) ? value : null;
}

/** The verified claims as a Principal, or null when they are not a token this API accepts. */
export function principalFromClaims(claims: Record<string, unknown>, auth: AuthConfig): Principal | null {
  if (claims.iss === OWN_ISSUER) {
    if (typeof claims.sub !== 'string' || !claims.sub) return null;
    const scopes = new Set(scopesOf(claims));
    // host_admin is only ever granted to the configured host client; anything else claiming it is forged or stale.
    if (scopes.has(Scopes.hostAdmin) && claims.sub !== auth.hostClientId) return null;
    return { clientId: claims.sub, tenantId: tenantOf(claims.tenant_id), scopes, issuer: 'own' };
  }
  const external = auth.external;
  if (external && claims.iss === external.issuer) {
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audiences.includes(external.audience)) return null;
    const clientId = [claims.client_id, claims.azp, claims.sub].find((v): v is string => typeof v === 'string' && v !== '');
    if (!clientId) return null;
    // The host's powers come only from HOST_CLIENT_ID; an external issuer grants tenant access at most.
    const scopes = new Set(scopesOf(claims).filter((scope) => scope !== Scopes.hostAdmin));
    return { clientId, tenantId: tenantOf(claims[external.tenantClaim]), scopes, issuer: 'external' };
  }
  return null;
}

/** Verifies the request's bearer token: the Principal, or a 401 with its RFC 6750 challenge. */
export async function authenticate(request: FastifyRequest, auth: AuthConfig): Promise<Principal> {
  const tokenSent = hasBearerToken(request.headers.authorization);
  let claims: Record<string, unknown>;
  try {
    claims = await request.jwtVerify<Record<string, unknown>>();
  } catch (error) {
    request.log.debug({ reason: (error as Error).message }, 'token refused');
    throw new BearerTokenRefused(tokenSent);
  }
  const principal = principalFromClaims(claims, auth);
  if (!principal) throw new BearerTokenRefused(tokenSent);
  return principal;
}
