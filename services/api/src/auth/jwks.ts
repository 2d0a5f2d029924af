import { createPublicKey } from 'node:crypto';

/** Public keys of an external OpenID issuer, by key id, as PEM (what @fastify/jwt verifies RS256 with). */
export interface JwksKeySource {
  publicKeyPem(kid: string): Promise<string>;
}

interface Jwk {
  kty?: string;
  kid?: string;
  use?: string;
  alg?: string;
  n?: string;
  e?: string;
}

/**
 * Fetches the issuer's JWKS and keeps it: refreshed after `maxAgeMs` (keys the issuer withdrew stop
 * working), and at once for an unknown key id (the issuer rotated), at most every `minRefreshMs`
 * so tokens with made-up key ids cannot make us hammer the issuer. Concurrent misses share one fetch.
 */
export function createJwksKeySource(options: {
  url: string;
  maxAgeMs?: number;
  minRefreshMs?: number;
  timeoutMs?: number;
  now?: () => number;
}): JwksKeySource {
  const maxAgeMs = options.maxAgeMs ?? 600_000;
  const minRefreshMs = options.minRefreshMs ?? 10_000;
  const now = options.now ?? Date.now;
  let keys = new Map<string, string>();
  let fetchedAt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<void> | null = null;

  const refresh = (): Promise<void> => {
    inFlight ??= (async () => {
      try {
        const response = await fetch(options.url, { signal: AbortSignal.timeout(options.timeoutMs ?? 5000) });
        if (!response.ok) throw new Error(`JWKS endpoint answered ${response.status}`);
        const body = (await response.json()) as { keys?: Jwk[] };
        const next = new Map<string, string>();
        for (const jwk of body.keys ?? []) {
          if (jwk.kty !== 'RSA' || !jwk.kid || (jwk.use && jwk.use !== 'sig') || (jwk.alg && jwk.alg !== 'RS256')) continue;
          const pem = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
          next.set(jwk.kid, pem.toString());
        }
        keys = next;
        fetchedAt = now();
      } finally {
        inFlight = null;
      }
    })();
    return inFlight;
  };

  return {
    async publicKeyPem(kid) {
      const age = now() - fetchedAt;
      if (age > maxAgeMs || (!keys.has(kid) && age > minRefreshMs)) await refresh();
      const pem = keys.get(kid);
      if (!pem) throw new Error(`no signing key ${kid} in the issuer's JWKS`);
      return pem;
    },
  };
}
