import { compileErrors, validate } from '@readme/openapi-parser';
import { ContractMessages } from '@dcar/domain';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BULL_BOARD_PATH } from '../src/routes/bull-board.js';
import { DOCS_PATH } from '../src/app.js';
import { DAILY, startTestApi, type TestApi } from './helpers.js';

// The OpenAPI document at /docs/json is what integrators' code generators read: it must be valid,
// cover every route, and say what each answer looks like.

interface Operation {
  operationId?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: string; schema: { format?: string } }>;
  responses: Record<string, { description: string; headers?: Record<string, unknown>; content?: Record<string, { example?: unknown; examples?: unknown }> }>;
}
interface Document {
  openapi: string;
  servers?: Array<{ url: string }>;
  components: { securitySchemes: Record<string, { type: string; flows?: { clientCredentials?: { tokenUrl: string; scopes: Record<string, string> } } }> };
  paths: Record<string, Record<string, Operation>>;
}

let env: TestEnvironment;
let api: TestApi;
let document: Document;

beforeAll(async () => {
  env = await createTestEnvironment();
  api = await startTestApi(env);
  const response = await api.app.inject({ url: `${DOCS_PATH}/json` });
  expect(response.statusCode).toBe(200);
  document = response.json();
});

afterAll(async () => {
  await api?.close();
  await env?.close();
});

/**
 * Every route the app registered, as `METHOD /path/{param}`, read from Fastify's route tree
 * (`printRoutes`): one line per node, four characters of indentation per level, a node's segment
 * appended to its parent's path.
 */
function registeredRoutes(tree: string): string[] {
  const routes: string[] = [];
  const pathAtDepth: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (.*?) \(([A-Z, ]+)\)$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    const path = `${depth > 0 ? pathAtDepth[depth - 1] : ''}${match[2]}`;
    pathAtDepth[depth] = path;
    for (const method of match[3]!.split(', ')) routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
  }
  return routes;
}

function operations(): Array<{ key: string; operation: Operation }> {
  return Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ key: `${method.toUpperCase()} ${path}`, operation })),
  );
}

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await validate(structuredClone(document) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
    expect(result.warnings).toEqual([]);
    expect(document.openapi).toBe('3.1.0');
  });

  it('documents every registered route (Bull Board and the docs page aside) with a unique operationId', () => {
    const routes = registeredRoutes(api.app.printRoutes({ commonPrefix: false }));
    const documented = new Set(operations().map((o) => o.key));
    const expected = routes.filter(
      (route) =>
        // HEAD answers like its GET without a body; Bull Board and the docs page are HTML, not the API.
        !route.startsWith('HEAD ') && !route.includes(` ${BULL_BOARD_PATH}`) && !route.includes(` ${DOCS_PATH}`),
    );
    expect(expected.length).toBeGreaterThanOrEqual(15);
    expect(expected.filter((route) => !documented.has(route))).toEqual([]);
    expect(expected).toContain('GET /api/external/conversations/daily-audio-recordings');
    const ids = operations().map((o) => o.operation.operationId);
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('describes every answer and gives an example of each body', () => {
    for (const { key, operation } of operations()) {
      for (const [status, answer] of Object.entries(operation.responses)) {
        expect(answer.description, `${key} ${status}`).not.toBe('Default Response');
        expect(answer.description.length, `${key} ${status}`).toBeGreaterThan(5);
        for (const [type, media] of Object.entries(answer.content ?? {})) {
          expect(media.example ?? media.examples, `${key} ${status} ${type} example`).toBeDefined();
        }
      }
    }
  });

  it('gives the error answers their exact messages as examples', () => {
    const daily = document.paths[`${DAILY}/{utcDay}`]!.get!;
    const examplesOf = (status: string) => {
      const media = daily.responses[status]!.content!['application/json']!;
      return media.example !== undefined ? [media.example] : Object.values(media.examples as Record<string, { value: unknown }>).map((e) => e.value);
    };
    expect(examplesOf('400')).toEqual([{ error: ContractMessages.invalidDay }, { error: ContractMessages.futureDay }]);
    expect(examplesOf('404')).toEqual([{ error: ContractMessages.beyondRetention }]);
    expect(examplesOf('429')).toEqual([{ error: ContractMessages.rateLimited }]);
  });

  it('documents the download link endpoint: no token, its table’s answers with their exact messages', () => {
    const link = document.paths[`${DAILY}/{utcDay}/hours/{hour}/archive`]!.get!;
    expect(link.operationId).toBe('getDailyAudioRecordingArchive');
    expect(link.security).toBeUndefined();
    expect(Object.keys(link.responses).sort()).toEqual(['302', '401', '403', '404', '500']);
    const examplesOf = (status: string) => {
      const media = link.responses[status]!.content!['application/json']!;
      return media.example !== undefined ? [media.example] : Object.values(media.examples as Record<string, { value: unknown }>).map((e) => e.value);
    };
    expect(examplesOf('401')).toEqual([{ error: ContractMessages.downloadLinkExpired }]);
    expect(examplesOf('403')).toEqual([{ error: ContractMessages.downloadLinkInvalid }, { error: ContractMessages.featureDisabled }]);
    expect(examplesOf('404')).toEqual([{ error: ContractMessages.beyondRetention }]);
    expect(link.responses['302']!.headers).toHaveProperty('location');
    expect(document.paths['/api/host/tenants/{tenantId}/downloads']!.get!.operationId).toBe('listTenantDownloads');
  });

  it('has one security scheme, OAuth2 client credentials at /connect/token, and every requirement names it', () => {
    expect(Object.keys(document.components.securitySchemes)).toEqual(['oauth2']);
    const scheme = document.components.securitySchemes.oauth2!;
    expect(scheme.type).toBe('oauth2');
    expect(scheme.flows?.clientCredentials?.tokenUrl).toBe('/connect/token');
    const requirements = operations().flatMap((o) => o.operation.security ?? []);
    expect(requirements.length).toBeGreaterThan(10);
    for (const requirement of requirements) {
      for (const [name, scopes] of Object.entries(requirement)) {
        expect(name).toBe('oauth2');
        for (const scope of scopes) expect(Object.keys(scheme.flows!.clientCredentials!.scopes)).toContain(scope);
      }
    }
    expect(document.paths['/connect/token']!.post!.security).toBeUndefined();
  });

  it('names the server the API listens on', () => {
    expect(document.servers).toEqual([{ url: `http://127.0.0.1:${env.config.api.port}`, description: 'This API' }]);
  });

  it('documents the rate-limit headers of both external endpoints, and Retry-After on 429', () => {
    for (const path of [`${DAILY}/{utcDay}`, DAILY]) {
      const responses = document.paths[path]!.get!.responses;
      for (const status of ['200', '429']) {
        expect(Object.keys(responses[status]!.headers ?? {}), `${path} ${status}`).toEqual(
          expect.arrayContaining(['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']),
        );
      }
      expect(Object.keys(responses['429']!.headers!)).toContain('retry-after');
      expect(Object.keys(responses['401']!.headers!)).toContain('www-authenticate');
    }
  });

  it('shows days as format: date, while the routes still check them in the handler after the token', async () => {
    const dayParameter = document.paths[`${DAILY}/{utcDay}`]!.get!.parameters!.find((p) => p.name === 'utcDay')!;
    expect(dayParameter.schema.format).toBe('date');
    const listParameters = document.paths[DAILY]!.get!.parameters!;
    expect(listParameters.filter((p) => p.in === 'query').map((p) => [p.name, p.schema.format])).toEqual([
      ['from', 'date'],
      ['to', 'date'],
    ]);
    // Validation of the day is the handler's: without a token, a bad day is still a 401, not a 400.
    expect((await api.app.inject({ url: `${DAILY}/not-a-day` })).statusCode).toBe(401);
    expect((await api.app.inject({ url: `${DAILY}?from=not-a-day` })).statusCode).toBe(401);
  });
});
