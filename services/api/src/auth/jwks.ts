import { KeyObject } from 'node:crypto';
import { createRemoteJWKSet } from 'jose';

/** Public keys of an external OpenID issuer, by key id, as PEM (what @fastify/jwt verifies RS256 with). */
export interface JwksKeySource {
  publicKeyPem(kid: string): Promise<string>;
}

/**
 * The issuer's JWKS through jose's remote key set: fetched once and kept `maxAgeMs` (keys the issuer
 * withdrew stop working), fetched again at once for an unknown key id (the issuer rotated) but at
 * most every `minRefreshMs`, so tokens with made-up key ids cannot make us hammer the issuer;
 * concurrent misses share one fetch; each fetch gives up after `timeoutMs`. Only RS256 signing keys
 * are selected (the header we resolve names the algorithm, jose honours the keys' `use`).
 */
export function createJwksKeySource(options: { url: string; maxAgeMs?: number; minRefreshMs?: number; timeoutMs?: number }): JwksKeySource {
  const keySet = createRemoteJWKSet(new URL(options.url), {
    cacheMaxAge: options.maxAgeMs ?? 600_000,
    cooldownDuration: options.minRefreshMs ?? 10_000,
    timeoutDuration: options.timeoutMs ?? 5000,
  });
  const pems = new WeakMap<object, string>();
  return {
    async publicKeyPem(kid) {
      let key: Awaited<ReturnType<typeof keySet>>;
      try {
        key = await keySet({ alg: 'RS256', kid });
      } catch (error) {
        throw new Error(`no signing key ${kid} in the issuer's JWKS: ${error instanceof Error ? error.message : 'unknown error'}`, { cause: error });
      }
      let pem = pems.get(key);
      if (!pem) {
        pem = KeyObject.from(key).export({ type: 'spki', format: 'pem' }).toString();
        pems.set(key, pem);
      }
      return pem;
    },
  };
}
