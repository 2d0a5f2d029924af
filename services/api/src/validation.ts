import AjvCompiler, { type BuildCompilerFromPool } from '@fastify/ajv-compiler';

/** How Fastify calls a route's validator compiler (the library's own type names only the schema). */
type RouteValidatorCompiler = (route: { schema: unknown; method: string; url: string; httpPart: string }) => unknown;

/**
 * Fastify's validators with one change: a JSON body is validated as the client sent it. Fastify's
 * Ajv coerces types by default, so `{"enabled": null}` passed as `false`, `"true"`, `1` and `"3"`
 * as booleans and integers, and `["a"]` as `"a"`. Path parameters and query strings are text by
 * nature and keep the coercion their schemas may rely on.
 */
export function strictBodyValidators(): BuildCompilerFromPool {
  const buildFromPool = AjvCompiler();
  return (externalSchemas, options) => {
    const coercing = buildFromPool(externalSchemas, options) as unknown as RouteValidatorCompiler;
    const strict = buildFromPool(externalSchemas, {
      ...options,
      customOptions: { ...options?.customOptions, coerceTypes: false },
    } as typeof options) as unknown as RouteValidatorCompiler;
    const compile: RouteValidatorCompiler = (route) => (route.httpPart === 'body' ? strict : coercing)(route);
    return compile as unknown as ReturnType<BuildCompilerFromPool>;
  };
}
