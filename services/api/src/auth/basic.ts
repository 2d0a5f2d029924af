/**
 * The user name and password of an HTTP Basic `Authorization` header (RFC 7617), as sent: base64 of
 * `user:password`, split at the first colon. Null when there is no header, it is another scheme, or
 * it is garbled (not base64, no colon). The token endpoint form-decodes both parts on top of this
 * (RFC 6749 §2.3.1); Bull Board's login takes them as they are.
 */
export function readBasicCredentials(authorization: string | undefined): { user: string; password: string } | null {
  const match = authorization?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
