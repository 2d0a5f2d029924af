import { Scopes, type Scope } from '@dcar/domain';

/** The token endpoint: where code generators and the docs page's Authorize button get a token. */
export const TOKEN_PATH = '/connect/token';

/** The one security scheme of the API: OAuth2 client credentials against `TOKEN_PATH`. */
export const OAUTH2_SCHEME = 'oauth2';

/** A route's OpenAPI security requirement: a token from `TOKEN_PATH` carrying `scope`. */
export function requiresScope(scope: Scope): Array<Record<string, string[]>> {
  return [{ [OAUTH2_SCHEME]: [scope] }];
}

/**
 * The OpenAPI document around the routes' schemas. `serverUrl` is the address clients reach the
 * API at; the token URL is relative to it, so the docs page's Authorize button fetches a token
 * from the API that served the page.
 */
export function openApiDocument(input: { serverUrl: string }) {
  return {
    openapi: '3.1.0' as const,
    info: {
      title: 'Daily Conversation Audio Recordings API',
      version: '1.0.0',
      description:
        'Hourly ZIP archives of every tenant’s conversation audio of a UTC day, with download links and their SHA-256; ' +
        'host administration of tenants, applications and runs. Every error answer is `{ "error": "<message>" }`.',
    },
    servers: [{ url: input.serverUrl, description: 'This API' }],
    tags: [
      { name: 'auth', description: 'OAuth2 client credentials (RFC 6749 §4.4)' },
      { name: 'external', description: 'A tenant’s application: its days and their hourly archives (scope dataservice_external)' },
      { name: 'host', description: 'The host operator: tenants, the feature, applications and runs (scope host_admin)' },
      { name: 'operations', description: 'Health, readiness and metrics' },
    ],
    components: {
      securitySchemes: {
        [OAUTH2_SCHEME]: {
          type: 'oauth2' as const,
          description: 'Client credentials of an application (or of the host). Send the token as `Authorization: Bearer <access_token>`.',
          flows: {
            clientCredentials: {
              tokenUrl: TOKEN_PATH,
              scopes: {
                [Scopes.external]: 'Read the tenant’s daily audio recordings',
                [Scopes.hostAdmin]: 'Administer tenants, applications and runs (the host’s own client only)',
              },
            },
          },
        },
      },
    },
  };
}

/** Fields that hold a UTC day, wherever a route takes one (path, query or body). */
const DAY_FIELDS = new Set(['utcDay', 'from', 'to']);

type JsonObject = Record<string, unknown>;

function withDayFormats(schema: unknown): unknown {
  if (typeof schema !== 'object' || schema === null) return schema;
  const properties = (schema as { properties?: JsonObject }).properties;
  if (!properties) return schema;
  const documented = Object.fromEntries(
    Object.entries(properties).map(([name, property]) => [
      name,
      DAY_FIELDS.has(name) && (property as { type?: unknown }).type === 'string' ? { ...(property as JsonObject), format: 'date' } : property,
    ]),
  );
  return { ...(schema as JsonObject), properties: documented };
}

/**
 * A route's schema as the OpenAPI document shows it: its day fields get `format: date`. Only the
 * document: the routes validate them as plain strings, because a day is checked in the handler,
 * after the token, scope, feature and rate limit, with the contract's message.
 */
export function documentDateFormats<T extends JsonObject>(schema: T): T {
  const documented: JsonObject = { ...schema };
  for (const part of ['params', 'querystring', 'body']) {
    if (part in documented) documented[part] = withDayFormats(documented[part]);
  }
  return documented as T;
}
