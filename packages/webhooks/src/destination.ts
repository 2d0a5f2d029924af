import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/** How strict the URL rules are: production allows only https:// to public addresses. */
export interface DestinationPolicy {
  /** WEBHOOK_ALLOW_INSECURE: http:// and private, loopback or link-local addresses are allowed too (development, tests). */
  allowInsecure: boolean;
}

/** Every address a host name resolves to. Production uses the system resolver; tests inject their own. */
export type ResolveHost = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolveHost: ResolveHost = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });

const MAX_URL_LENGTH = 2048;

/** A URL or destination the rules refuse; the message is written for the host operator. */
export class DestinationRefusedError extends Error {
  override name = 'DestinationRefusedError';
}

/**
 * True only for globally routable unicast addresses. Everything ipaddr.js names a special range is
 * refused: private, loopback, link-local, unique-local, CGNAT, multicast, unspecified, broadcast,
 * reserved, documentation, and the IPv6 ranges that embed an IPv4 address (6to4, Teredo, NAT64),
 * whose IPv4 part could be private. IPv4-mapped IPv6 is judged by its IPv4 address.
 */
export function isPublicAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  if (!ipaddr.isValid(bare)) return false;
  const parsed = ipaddr.process(bare);
  // ::a.b.c.d, the deprecated IPv4-compatible form, is in no named range but is not a real destination either.
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).parts.slice(0, 6).every((part) => part === 0)) return false;
  return parsed.range() === 'unicast';
}

/** Checks the URL's form: absolute, https:// (or http:// when insecure is allowed), no credentials. */
export function parseWebhookUrl(input: string, policy: DestinationPolicy): URL {
  if (input.length > MAX_URL_LENGTH) throw new DestinationRefusedError(`url must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new DestinationRefusedError('url must be an absolute URL, e.g. https://hooks.example.com/dcar');
  }
  const allowed = policy.allowInsecure ? ['https:', 'http:'] : ['https:'];
  if (!allowed.includes(url.protocol)) {
    throw new DestinationRefusedError(policy.allowInsecure ? 'url must start with https:// or http://' : 'url must start with https://');
  }
  if (url.username || url.password) throw new DestinationRefusedError('url must not contain credentials');
  if (!url.hostname) throw new DestinationRefusedError('url must name a host');
  return url;
}

function refuseAddress(hostname: string, address: string): never {
  throw new DestinationRefusedError(
    `url must resolve to public addresses only: ${hostname} resolves to ${address} (private, loopback, link-local or otherwise not public)`,
  );
}

/**
 * Names that never lead to a public receiver, whatever a resolver says of them: `localhost` and its
 * subdomains (loopback, RFC 6761), `.local` (mDNS, the local link), `.internal` (private use) and
 * `.home.arpa` (home networks).
 */
const PRIVATE_USE_NAME = /(?:^|\.)(?:localhost|local|internal|home\.arpa)\.?$/i;

/** How long registration waits for DNS before leaving the host to the connect-time check. */
const REGISTRATION_LOOKUP_TIMEOUT_MS = 5000;

/** What registration found out about a URL's host; `unresolved` hosts are left to the connect-time check. */
export type DestinationCheck = 'public' | 'unresolved';

/**
 * Registration-time check: every address the URL's host resolves to must be public. A host that does
 * not resolve now (no DNS record yet, a resolver that is down or unreachable from here) breaks no rule
 * and is accepted: the delivery checks again at connect time (`createGuardedLookup`), which is what
 * keeps requests away from internal addresses, also from a name that later resolves elsewhere.
 */
export async function checkDestination(url: URL, policy: DestinationPolicy, resolveHost: ResolveHost): Promise<DestinationCheck> {
  if (policy.allowInsecure) return 'public';
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(hostname)) {
    if (!isPublicAddress(hostname)) refuseAddress(hostname, hostname);
    return 'public';
  }
  if (PRIVATE_USE_NAME.test(hostname)) {
    throw new DestinationRefusedError(`url must name a public host: ${hostname} is a local or private-use name`);
  }
  let addresses: LookupAddress[];
  let timer: NodeJS.Timeout | undefined;
  try {
    // A resolver that does not answer would hold the host's request for the system's full DNS timeout.
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('no answer from DNS')), REGISTRATION_LOOKUP_TIMEOUT_MS);
    });
    addresses = await Promise.race([resolveHost(hostname), timedOut]);
  } catch {
    return 'unresolved';
  } finally {
    clearTimeout(timer);
  }
  if (addresses.length === 0) return 'unresolved';
  const refused = addresses.find((a) => !isPublicAddress(a.address));
  if (refused) refuseAddress(hostname, refused.address);
  return 'public';
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * The `lookup` of every delivery connection: resolves the name and refuses it unless every address
 * is public, inside the connection's own DNS step, so there is no window between checking an
 * address and connecting to it (DNS rebinding). Answers in both of Node's lookup forms (one address,
 * or all of them for happy eyeballs).
 */
export function createGuardedLookup(resolveHost: ResolveHost) {
  return (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void => {
    resolveHost(hostname).then(
      (resolved) => {
        const family = typeof options.family === 'number' ? options.family : 0;
        const addresses = family === 4 || family === 6 ? resolved.filter((a) => a.family === family) : resolved;
        const refused = addresses.find((a) => !isPublicAddress(a.address));
        const first = addresses[0];
        if (refused || !first) {
          const error: NodeJS.ErrnoException = refused
            ? new DestinationRefusedError(`refused to connect: ${hostname} resolves to ${refused.address}, which is not a public address`)
            : Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' });
          callback(error, '', 0);
          return;
        }
        if (options.all) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}
