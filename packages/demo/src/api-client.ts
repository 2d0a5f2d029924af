import type { TokenResponse } from '@dcar/api-schemas';

/** The API's own response schemas' types: the demo and the system test read exactly what the API writes. */
export type { DailyRecordings, RunReport as RunReportView } from '@dcar/api-schemas';

/**
 * Why a call failed, for a person: the API's message, and for a 429 which limit it was and what to
 * do about it (the limit is per tenant and per hour, so a demo run again soon can meet it).
 */
export function failureMessage(call: string, status: number, body: unknown, headers: Headers): string {
  const message = `${call} answered ${status}: ${JSON.stringify(body)}`;
  if (status !== 429) return message;
  const limit = headers.get('x-ratelimit-limit') ?? 'RATE_LIMIT_PER_HOUR';
  const retryAfter = headers.get('retry-after');
  return (
    `${message}. The tenant's download limit (${limit} requests per hour, RATE_LIMIT_PER_HOUR) is used up` +
    `${retryAfter ? `; a request passes again in ${retryAfter} s` : ''}. Wait, use another tenant, or start the API with a higher RATE_LIMIT_PER_HOUR.`
  );
}

/** A small client of the API's HTTP contract, as a tenant application or the host would use it. */
export class ApiClient {
  constructor(readonly baseUrl: string) {}

  /** The token endpoint's whole answer (the token and its lifetime). */
  async issueToken(clientId: string, clientSecret: string): Promise<TokenResponse> {
    const response = await fetch(`${this.baseUrl}/connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
    });
    const body = (await response.json()) as Partial<TokenResponse> & { error?: string };
    if (response.status !== 200 || !body.access_token) throw new Error(`token request failed: ${response.status} ${body.error ?? ''}`);
    return body as TokenResponse;
  }

  async token(clientId: string, clientSecret: string): Promise<string> {
    return (await this.issueToken(clientId, clientSecret)).access_token;
  }

  async request<T>(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: T; headers: Headers }> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : null) as T, headers: response.headers };
  }

  /** Like `request`, but any status other than `expected` is an error naming the call. */
  async expect<T>(expected: number, method: string, path: string, token: string, body?: unknown): Promise<T> {
    const result = await this.request<T>(method, path, token, body);
    if (result.status !== expected) throw new Error(failureMessage(`${method} ${path}`, result.status, result.body, result.headers));
    return result.body;
  }
}
