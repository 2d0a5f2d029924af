import { ARCHIVE_STATUSES, Scopes, TENANT_ID_PATTERN, type ArchiveStatus } from '@dcar/domain';
import { Type, type Static } from 'typebox';

/**
 * The HTTP API's request and response schemas (TypeBox), one module for the API's routes, its
 * OpenAPI document, and every client of it in this repository (the demo, the tests): each reads
 * the types the API validates and serialises with.
 */

export const ErrorBody = Type.Object({ error: Type.String() });
export type ErrorBody = Static<typeof ErrorBody>;

// --- Token: POST /connect/token (RFC 6749 §4.4) ---

export const TokenRequest = Type.Object(
  {
    grant_type: Type.Optional(Type.String({ description: 'Must be client_credentials.' })),
    client_id: Type.Optional(Type.String()),
    client_secret: Type.Optional(Type.String()),
    scope: Type.Optional(Type.String({ description: 'Space-separated scopes; a subset of the client’s scopes.' })),
  },
  { additionalProperties: true },
);

export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  scope: Type.String(),
});
export type TokenResponse = Static<typeof TokenResponse>;

/** RFC 6749 §5.2: `{"error": "<code>"}`. */
export const OAuthErrorBody = Type.Object({ error: Type.String() });

// --- Daily recordings: GET /api/external/conversations/daily-audio-recordings/{utcDay} ---

/** What a link reports; an expired day is never listed (it answers 404). */
export type LinkStatus = Exclude<ArchiveStatus, 'expired'>;
export const LINK_STATUSES = ARCHIVE_STATUSES.filter((status): status is LinkStatus => status !== 'expired');

export const DailyRecordingsParams = Type.Object({ utcDay: Type.String({ description: 'UTC day, YYYY-MM-DD' }) });

export const HourLink = Type.Object({
  hour: Type.String({ description: '"00" to "23"' }),
  url: Type.Union([Type.String(), Type.Null()], { description: 'Presigned GET of the hour’s ZIP, valid 24 hours; null unless available' }),
  sessionCount: Type.Integer(),
  fileCount: Type.Integer(),
  sizeBytes: Type.Integer(),
  status: Type.Enum(LINK_STATUSES),
});
export type HourLink = Static<typeof HourLink>;

export const DailyRecordings = Type.Object({
  date: Type.String(),
  totalSessions: Type.Integer(),
  totalFiles: Type.Integer(),
  totalSizeBytes: Type.Integer(),
  generatedAt: Type.Union([Type.String(), Type.Null()]),
  retentionDays: Type.Integer(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  links: Type.Array(HourLink, { minItems: 24, maxItems: 24 }),
});
export type DailyRecordings = Static<typeof DailyRecordings>;

// --- Host: tenants, the feature, applications, runs ---

export const TenantId = Type.String({ pattern: TENANT_ID_PATTERN, description: 'Letters, digits, "-" and "_", 1-64' });
export const TenantParams = Type.Object({ tenantId: TenantId });
export const ApplicationParams = Type.Object({ tenantId: TenantId, clientId: Type.String({ minLength: 1, maxLength: 100 }) });

export const Tenant = Type.Object({
  id: Type.String(),
  name: Type.String(),
  dailyAudioRecordings: Type.Object({ enabled: Type.Boolean(), retentionDays: Type.Integer() }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Tenant = Static<typeof Tenant>;

// PostgreSQL cannot store NUL in text: refused by the schema with a 400 naming the field, not a 500 from the database.
export const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]*$', description: '1-200 characters, no NUL' });

export const PutTenantBody = Type.Object({ name: Name }, { additionalProperties: false });

export const FeatureBody = Type.Object(
  { enabled: Type.Boolean(), retentionDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 })) },
  { additionalProperties: false },
);

export const Application = Type.Object({
  clientId: Type.String(),
  tenantId: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  createdAt: Type.String(),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
});
export type Application = Static<typeof Application>;

export const CreateApplicationBody = Type.Object(
  {
    name: Name,
    scopes: Type.Optional(Type.Array(Type.Literal(Scopes.external), { minItems: 1, uniqueItems: true })),
  },
  { additionalProperties: false },
);

export const CreatedApplication = Type.Object({ clientId: Type.String(), clientSecret: Type.String(), application: Application });
export type CreatedApplication = Static<typeof CreatedApplication>;

export const StartRunBody = Type.Object(
  {
    utcDay: Type.String({ description: 'YYYY-MM-DD' }),
    tenantIds: Type.Optional(Type.Array(TenantId, { minItems: 1, maxItems: 10_000, uniqueItems: true })),
    force: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const StartedRun = Type.Object({ runId: Type.String(), created: Type.Boolean() });
export type StartedRun = Static<typeof StartedRun>;

export const RunParams = Type.Object({ runId: Type.String({ minLength: 1, maxLength: 200 }) });

export const RunHour = Type.Object({
  tenantId: Type.String(),
  hour: Type.String(),
  status: Type.Enum(ARCHIVE_STATUSES),
  attempts: Type.Integer(),
  lastError: Type.Union([Type.String(), Type.Null()]),
});

export const RunReport = Type.Object({
  runId: Type.String(),
  utcDay: Type.String(),
  trigger: Type.String(),
  force: Type.Boolean(),
  state: Type.String(),
  round: Type.Integer(),
  startedAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  tenantCount: Type.Integer(),
  jobCount: Type.Integer(),
  counts: Type.Record(Type.String(), Type.Integer()),
  rounds: Type.Array(
    Type.Object({
      round: Type.Integer(),
      jobs: Type.Union([Type.Integer(), Type.Null()]),
      failed: Type.Union([Type.Integer(), Type.Null()]),
      startedAt: Type.String(),
      finishedAt: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
  failedHours: Type.Array(Type.Object({ tenantId: Type.String(), hour: Type.String(), error: Type.String() })),
  hours: Type.Array(RunHour),
});
export type RunReport = Static<typeof RunReport>;

// --- A tenant's webhook: /api/host/tenants/{tenantId}/webhook ---

export const PutWebhookBody = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 2048, description: 'https:// URL whose host resolves to public addresses only' }),
    enabled: Type.Optional(Type.Boolean({ default: true })),
  },
  { additionalProperties: false },
);

export const Webhook = Type.Object({
  url: Type.String(),
  enabled: Type.Boolean(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Webhook = Static<typeof Webhook>;

/** PUT's answer: the secret only when the request created the webhook. */
export const PutWebhookAnswer = Type.Object({
  ...Webhook.properties,
  secret: Type.Optional(Type.String({ description: 'whsec_ + base64 of 32 random bytes; only when this request created the webhook' })),
});
export type PutWebhookAnswer = Static<typeof PutWebhookAnswer>;

export const WebhookWithSecret = Type.Object({
  ...Webhook.properties,
  secret: Type.String({ description: 'whsec_ + base64 of 32 random bytes; shown only here' }),
});
export type WebhookWithSecret = Static<typeof WebhookWithSecret>;

export const WebhookDelivery = Type.Object({
  eventId: Type.String({ description: 'The webhook-id header of every attempt' }),
  type: Type.String(),
  state: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  deliveredAt: Type.Union([Type.String(), Type.Null()]),
  failedAt: Type.Union([Type.String(), Type.Null()]),
});
export type WebhookDelivery = Static<typeof WebhookDelivery>;

// --- Operations ---

export const Health = Type.Object({ status: Type.Literal('ok') });

export const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]),
  checks: Type.Object({ postgres: Type.String(), redis: Type.String(), store: Type.String() }),
});
export type Readiness = Static<typeof Readiness>;

// --- The OpenAPI document around the routes' schemas ---

export const OPENAPI_DOCUMENT = {
  info: {
    title: 'Daily Conversation Audio Recordings API',
    version: '1.0.0',
    description: 'Hourly archives of every tenant’s conversation audio, with presigned download links; host administration.',
  },
  components: {
    securitySchemes: {
      bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      hostBasic: { type: 'http', scheme: 'basic' },
    },
  },
} as const;
