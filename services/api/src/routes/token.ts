import { TOKEN_PATH, TokenAnswers, TokenRequest } from '@dcar/api-schemas';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { AuthConfig, Knex } from '@dcar/platform';
import type { FastifyInstance } from 'fastify';
import type { OwnTokenClaims } from '../auth/access-tokens.js';
import { OAuthError, createClientAuthenticator, grantScopes, readClientCredentials } from '../auth/client-credentials.js';
import { TooManyAttemptsError, type GuessThrottle } from '../auth/guess-throttle.js';

/** `POST /connect/token`: OAuth2 client credentials grant (RFC 6749 §4.4), errors as §5.2. */
export function registerTokenRoute(app: FastifyInstance, deps: { db: Knex; auth: AuthConfig; throttle: GuessThrottle }): void {
  const authenticateClient = createClientAuthenticator(deps.db, deps.auth);

  app.withTypeProvider<TypeBoxTypeProvider>().post(
    TOKEN_PATH,
    {
      schema: {
        tags: ['auth'],
        operationId: 'issueToken',
        summary: 'Issue an access token (OAuth2 client credentials)',
        description:
          'RFC 6749 §4.4. The client authenticates with client_id and client_secret in the form body or with HTTP Basic ' +
          '(not both). Errors are RFC 6749 §5.2 codes.',
        consumes: ['application/x-www-form-urlencoded'],
        body: TokenRequest,
        response: TokenAnswers,
      },
      // Every refusal on this route is an RFC 6749 error code, including unparsable or repeated parameters.
      errorHandler: (error, request, reply) => {
        if (error instanceof TooManyAttemptsError) {
          request.log.warn({ ip: request.ip }, 'token request refused: too many failed attempts');
          void reply.code(429).header('retry-after', String(error.retryAfterSeconds)).send({ error: error.message });
          return;
        }
        const oauth = error instanceof OAuthError ? error : null;
        const status = oauth?.statusCode ?? (error as { statusCode?: number }).statusCode ?? 500;
        if (!oauth && status >= 500) {
          request.log.error({ err: error }, 'token request failed');
          void reply.code(500).send({ error: 'server_error' });
          return;
        }
        if (oauth?.code === 'invalid_client') reply.header('www-authenticate', 'Basic realm="dcar", charset="UTF-8"');
        void reply.code(oauth ? oauth.statusCode : 400).send({ error: oauth?.code ?? 'invalid_request' });
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      // A parameter sent twice arrives as an array and fails the schema: RFC 6749 §3.2 forbids repeating them.
      const body = request.body;
      if (!body.grant_type) throw new OAuthError(400, 'invalid_request');
      if (body.grant_type !== 'client_credentials') throw new OAuthError(400, 'unsupported_grant_type');
      const credentials = readClientCredentials(request.headers.authorization, body);
      if (!credentials) throw new OAuthError(401, 'invalid_client');
      // Wrong secrets are counted per client id and address: after 20 in 5 minutes, 429 whatever is sent.
      const attempt = (clientId: string, clientSecret: string) =>
        authenticateClient(clientId, clientSecret).catch((error: unknown) => {
          if (error instanceof OAuthError && error.code === 'invalid_client') return null;
          throw error;
        });
      // One attempt for the throttle, whichever of Basic's two readings (form-decoded, as sent) matches.
      const client = await deps.throttle.verify('token', credentials.clientId, request.ip, async () => {
        const { asSent } = credentials;
        return (await attempt(credentials.clientId, credentials.clientSecret)) ?? (asSent ? await attempt(asSent.clientId, asSent.clientSecret) : null);
      });
      if (!client) throw new OAuthError(401, 'invalid_client');
      const scopes = grantScopes(body.scope, client.allowedScopes);
      const claims: OwnTokenClaims = { sub: client.clientId, scope: scopes.join(' ') };
      if (client.tenantId) claims.tenant_id = client.tenantId;
      const accessToken = app.jwt.sign(claims);
      request.log.info({ clientId: client.clientId, tenantId: client.tenantId, scope: claims.scope }, 'access token issued');
      return { access_token: accessToken, token_type: 'Bearer' as const, expires_in: deps.auth.tokenTtlSeconds, scope: claims.scope };
    },
  );
}
