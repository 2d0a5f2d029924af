/** The API's own response schemas' types: the demo and the system test read exactly what the API writes. */
export type { DailyRecordings, RunReport as RunReportView } from '@dcar/api-schemas';

/** A small client of the API's HTTP contract, as a tenant application or the host would use it. */
export class ApiClient {
  constructor(readonly baseUrl: string) {}

  async token(clientId: string, clientSecret: string): Promise<string> {
    const response = await fetch(`${this.baseUrl}/connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
    });
    const body = (await response.json()) as { access_token?: string; error?: string };
    if (response.status !== 200 || !body.access_token) throw new Error(`token request failed: ${response.status} ${body.error ?? ''}`);
    return body.access_token;
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
    if (result.status !== expected) throw new Error(`${method} ${path} answered ${result.status}: ${JSON.stringify(result.body)}`);
    return result.body;
  }
}
