import { isUtf8 } from 'node:buffer';
import { UserFacingError } from '@dcar/domain';
import AjvCompiler, { type BuildCompilerFromPool } from '@fastify/ajv-compiler';
import type { FastifyInstance } from 'fastify';

/** How Fastify calls a route's validator compiler (the library's own type names only the schema). */
type RouteValidatorCompiler = (route: { schema: unknown; method: string; url: string; httpPart: string }) => unknown;

/**
 * Fastify's validators with one change: a JSON body is validated as the client sent it. Fastify's
 * Ajv coerces types by default, so `{"enabled": null}` passed as `false`, `"true"`, `1` and `"3"`
 * as booleans and integers, and `["a"]` as `"a"`; and it removes fields a schema does not allow, so
 * a misspelt `retentiondays` answered 200 with the retention unchanged, and a `tenantId` for
 * `tenantIds` started a run of every tenant. Path parameters and query strings are text by nature
 * and keep the coercion their schemas may rely on.
 */
export function strictBodyValidators(): BuildCompilerFromPool {
  const buildFromPool = AjvCompiler();
  return (externalSchemas, options) => {
    const coercing = buildFromPool(externalSchemas, options) as unknown as RouteValidatorCompiler;
    const strict = buildFromPool(externalSchemas, {
      ...options,
      customOptions: { ...options?.customOptions, coerceTypes: false, removeAdditional: false },
    } as typeof options) as unknown as RouteValidatorCompiler;
    const compile: RouteValidatorCompiler = (route) => (route.httpPart === 'body' ? strict : coercing)(route);
    return compile as unknown as ReturnType<BuildCompilerFromPool>;
  };
}

export const BODY_NOT_UTF8_MESSAGE = 'The request body is not valid UTF-8.';

/**
 * Fastify's JSON body parser with two changes. A body that is not UTF-8 (RFC 8259 §8.1) is a 400:
 * Fastify reads it as a string, so a Latin-1 `é` became U+FFFD and was stored so, silently altered.
 * An empty body is no body rather than a 400, for clients that send a JSON content type on every
 * request: a bodyless DELETE or rotate-secret then works, and a route that needs a body still
 * answers its schema's 400.
 */
export function installUtf8JsonParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body: Buffer, done) => {
    if (body.length === 0) {
      done(null, undefined);
      return;
    }
    if (!isUtf8(body)) {
      done(new UserFacingError(400, BODY_NOT_UTF8_MESSAGE), undefined);
      return;
    }
    void parseJson(request, body.toString('utf8'), done);
  });
}
