import { ContractMessages, UserFacingError, type Scope } from '@dcar/domain';

/** The realm of the API's bearer challenges (RFC 6750 §3). */
export const BEARER_REALM = 'dcar';

/**
 * A request to a bearer-protected route without a valid token: the contract's 401, with the
 * challenge RFC 6750 §3 asks for. `tokenSent` tells a refused token (`error="invalid_token"`) from
 * a request that carried none, which gets the bare challenge (§3.1: no error code then).
 */
export class BearerTokenRefused extends UserFacingError {
  constructor(readonly tokenSent: boolean) {
    super(401, ContractMessages.unauthorized);
  }
}

/** A valid token without the scope a route needs: a 403 with RFC 6750's `insufficient_scope` challenge. */
export class InsufficientScope extends UserFacingError {
  constructor(
    readonly scope: Scope,
    message: string,
  ) {
    super(403, message);
  }
}

/** True when the request carries a bearer token at all (any other scheme counts as none, RFC 6750 §3.1). */
export function hasBearerToken(authorization: string | undefined): boolean {
  return /^Bearer\s+\S/i.test(authorization ?? '');
}

/** The `WWW-Authenticate` value for an error, or null when the error is no bearer challenge. */
export function bearerChallenge(error: unknown): string | null {
  if (error instanceof BearerTokenRefused) {
    return error.tokenSent
      ? `Bearer realm="${BEARER_REALM}", error="invalid_token", error_description="The access token is invalid or has expired"`
      : `Bearer realm="${BEARER_REALM}"`;
  }
  if (error instanceof InsufficientScope) {
    return `Bearer realm="${BEARER_REALM}", error="insufficient_scope", scope="${error.scope}"`;
  }
  return null;
}
