import { ARCHIVE_STATUSES, ContractMessages, RUN_NOT_QUEUED_MESSAGE, Scopes, TENANT_ID_PATTERN, type ArchiveStatus } from '@dcar/domain';
import { Type, type Static, type TSchema } from 'typebox';

/**
 * The HTTP API's request and response schemas (TypeBox), one module for the API's routes, its
 * OpenAPI document, and every client of it in this repository (the demo, the tests): each reads
 * the types the API validates and serialises with. Every answer carries a description and
 * examples, which only the OpenAPI document reads (validation and serialisation ignore them).
 */

export * from './openapi.js';

/**
 * A schema as one answer of one route: the same body schema, described and with examples for the
 * OpenAPI document. The copy leaves the shared schema as it is, so each route describes its own.
 */
export function answer<T extends TSchema>(schema: T, description: string, examples: readonly unknown[], headers?: Record<string, TSchema>): T {
  return { ...schema, description, examples, ...(headers ? { headers } : {}) };
}

export const ErrorBody = Type.Object({ error: Type.String() });
export type ErrorBody = Static<typeof ErrorBody>;

/** An error answer `{ "error": message }`, described, with each exact message it may carry as an example. */
export function errorAnswer(description: string, messages: readonly string[], headers?: Record<string, TSchema>) {
  return answer(
    ErrorBody,
    description,
    messages.map((error) => ({ error })),
    headers,
  );
}

/** Messages of the host endpoints that are not the contract's own. */
export const HostMessages = {
  missingHostScope: "The access token does not grant the 'host_admin' scope.",
} as const;

/** Messages of the day list that the contract does not fix (its other answers use the contract's). */
export const DayListMessages = {
  rangeReversed: "'from' must not be after 'to'.",
} as const;

// --- Token: POST /connect/token (RFC 6749 §4.4) ---

export const TokenRequest = Type.Object(
  {
    grant_type: Type.Optional(Type.String({ description: 'Must be client_credentials.' })),
    client_id: Type.Optional(Type.String({ description: 'The application’s client id (or send both with HTTP Basic instead).' })),
    client_secret: Type.Optional(Type.String({ description: 'The application’s client secret.' })),
    scope: Type.Optional(Type.String({ description: 'Space-separated scopes; a subset of the client’s scopes. Default: all of them.' })),
  },
  { additionalProperties: true },
);

export const TokenResponse = Type.Object({
  access_token: Type.String({ description: 'A JWT; send it as `Authorization: Bearer <access_token>`.' }),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the token expires.' }),
  scope: Type.String({ description: 'The scopes granted, space-separated.' }),
});
export type TokenResponse = Static<typeof TokenResponse>;

/** RFC 6749 §5.2: `{"error": "<code>"}`. */
export const OAuthErrorBody = Type.Object({ error: Type.String({ description: 'An RFC 6749 §5.2 error code.' }) });

const TOKEN_EXAMPLE: TokenResponse = {
  access_token: 'eyJhbGciOiJIUzI1NiIsImtpZCI6IjFhMmIzYzRkNWU2ZjdhOGIiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhcHBfN2Y...',
  token_type: 'Bearer',
  expires_in: 3600,
  scope: Scopes.external,
};

export const TokenAnswers = {
  200: answer(TokenResponse, 'The access token.', [TOKEN_EXAMPLE]),
  400: answer(OAuthErrorBody, 'A missing or repeated parameter, another grant type, or a scope the client does not have.', [
    { error: 'invalid_request' },
    { error: 'unsupported_grant_type' },
    { error: 'invalid_scope' },
  ]),
  401: answer(OAuthErrorBody, 'Unknown client, wrong secret or revoked application (with `WWW-Authenticate: Basic`).', [{ error: 'invalid_client' }]),
  429: answer(
    OAuthErrorBody,
    'More than 20 wrong secrets for one client id from one address within 5 minutes; whatever is sent is refused until Retry-After.',
    [{ error: 'too_many_requests' }],
    {
      'retry-after': Type.Integer({ description: 'Seconds until a request would be considered again.' }),
    },
  ),
  500: answer(OAuthErrorBody, 'Anything unexpected; details only in the log.', [{ error: 'server_error' }]),
};

// --- Daily recordings: GET /api/external/conversations/daily-audio-recordings/{utcDay} ---

/** What a link reports; an expired day is never listed (it answers 404). */
export type LinkStatus = Exclude<ArchiveStatus, 'expired'>;
export const LINK_STATUSES = ARCHIVE_STATUSES.filter((status): status is LinkStatus => status !== 'expired');

/**
 * A UTC day in a path or query: a plain string to the validator, because the handler checks the
 * date after the token, scope, feature and rate limit (the contract's order); the OpenAPI document
 * shows it as `format: date` (see `documentDateFormats`).
 */
export const UtcDayText = Type.String({ description: 'A UTC day, YYYY-MM-DD.' });

export const DailyRecordingsParams = Type.Object({ utcDay: UtcDayText });

export const HourLink = Type.Object({
  hour: Type.String({ description: '"00" to "23"' }),
  url: Type.Union([Type.String(), Type.Null()], {
    description:
      'Download link of the hour’s ZIP, valid DOWNLOAD_LINK_TTL_SECONDS (default 24 hours); null unless available. With DOWNLOAD_LINKS=api (the default) ' +
      'a signed link to this API (getDailyAudioRecordingArchive), which redirects to the store; with DOWNLOAD_LINKS=direct a presigned store URL.',
  }),
  sha256: Type.Union([Type.String(), Type.Null()], { description: 'Lowercase hex SHA-256 of the hour’s ZIP; null unless available' }),
  sessionCount: Type.Integer(),
  fileCount: Type.Integer({ description: 'Entries of the hour’s metadata.json: every source file, whatever its status' }),
  sizeBytes: Type.Integer({ description: 'Size of the ZIP' }),
  status: Type.Enum(LINK_STATUSES),
});
export type HourLink = Static<typeof HourLink>;

export const DailyRecordings = Type.Object({
  date: Type.String(),
  totalSessions: Type.Integer(),
  totalFiles: Type.Integer(),
  totalSizeBytes: Type.Integer(),
  generatedAt: Type.Union([Type.String(), Type.Null()], { description: 'When the day’s generation last wrote a result; null while no hour has one' }),
  retentionDays: Type.Integer(),
  expiresAt: Type.Union([Type.String(), Type.Null()], { description: 'generatedAt + retentionDays; null with generatedAt' }),
  links: Type.Array(HourLink, { minItems: 24, maxItems: 24 }),
});
export type DailyRecordings = Static<typeof DailyRecordings>;

const EXAMPLE_SHA256 = '9f2c1b7e4d3a5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8';

const DAILY_RECORDINGS_EXAMPLE: DailyRecordings = {
  date: '2025-12-12',
  totalSessions: 12,
  totalFiles: 67,
  totalSizeBytes: 15360000,
  generatedAt: '2025-12-13T02:15:32Z',
  retentionDays: 3,
  expiresAt: '2025-12-16T02:15:32Z',
  links: Array.from({ length: 24 }, (_, hour): HourLink => {
    const hh = String(hour).padStart(2, '0');
    if (hour !== 14) return { hour: hh, url: null, sha256: null, sessionCount: 0, fileCount: 0, sizeBytes: 0, status: hour === 15 ? 'failed' : 'no_data' };
    return {
      hour: hh,
      url: 'https://api.example.com/api/external/conversations/daily-audio-recordings/2025-12-12/hours/14/archive?tenant=acme&application=app_5f1d3c9a8b7e4d2c&expires=1765707332&signature=3q2-7wB0mX...',
      sha256: EXAMPLE_SHA256,
      sessionCount: 12,
      fileCount: 67,
      sizeBytes: 15360000,
      status: 'available',
    };
  }),
};

/** The rate-limit headers of the tenant's daily download limit (answers after the limit was counted). */
export const RateLimitHeaders = {
  'x-ratelimit-limit': Type.Integer({ description: 'Requests the tenant may make within an hour (RATE_LIMIT_PER_HOUR).' }),
  'x-ratelimit-remaining': Type.Integer({ description: 'Requests the tenant has left within the current hour.' }),
  'x-ratelimit-reset': Type.Integer({ description: 'Seconds until a request is counted back.' }),
};
export const RetryAfterHeader = {
  'retry-after': Type.Integer({ description: 'Seconds until a request would pass.' }),
};

const CHALLENGE_HEADER = {
  'www-authenticate': Type.String({
    description: 'RFC 6750: `Bearer realm="dcar"`, with `error="invalid_token"` when a token was sent but is not valid.',
  }),
};
const SCOPE_CHALLENGE_HEADER = {
  'www-authenticate': Type.String({ description: 'RFC 6750: `Bearer realm="dcar", error="insufficient_scope", scope="…"` when the token lacks the scope.' }),
};

/** The answers the external endpoints share: token, scope, feature, limit, date and retention checks. */
function externalAnswers(badDate: readonly string[]) {
  return {
    400: errorAnswer('The date is not a real YYYY-MM-DD date, or is in the future.', badDate, RateLimitHeaders),
    401: errorAnswer(
      'The token is missing, malformed, badly signed or expired, or its application was revoked.',
      [ContractMessages.unauthorized],
      CHALLENGE_HEADER,
    ),
    403: errorAnswer(
      'The token lacks the dataservice_external scope or a tenant, or the feature is disabled for the tenant.',
      [ContractMessages.missingScope, ContractMessages.featureDisabled],
      SCOPE_CHALLENGE_HEADER,
    ),
    429: errorAnswer('More than RATE_LIMIT_PER_HOUR requests by the tenant within an hour.', [ContractMessages.rateLimited], {
      ...RateLimitHeaders,
      ...RetryAfterHeader,
    }),
    500: errorAnswer('Anything unexpected; details only in the log.', [ContractMessages.internal]),
  };
}

export const DailyRecordingsAnswers = {
  200: answer(
    DailyRecordings,
    'The day’s 24 hours, each with its status and, when available, a download link and its SHA-256.',
    [DAILY_RECORDINGS_EXAMPLE],
    RateLimitHeaders,
  ),
  ...externalAnswers([ContractMessages.invalidDay, ContractMessages.futureDay]),
  404: errorAnswer(
    'The day is older than the tenant’s retention: its archives expired, or it was never generated and lies before today − retentionDays.',
    [ContractMessages.beyondRetention],
    RateLimitHeaders,
  ),
};

// --- Download links: GET or HEAD /api/external/conversations/daily-audio-recordings/{utcDay}/hours/{HH}/archive?… ---

export const DownloadLinkParams = Type.Object({
  utcDay: UtcDayText,
  hour: Type.String({ description: 'The hour, "00" to "23".' }),
});

/** The link's query as the daily endpoint wrote it; the endpoint itself tells a malformed one (403), never the validator. */
export const DownloadLinkQuery = Type.Object(
  {
    tenant: Type.Optional(Type.String({ description: 'The tenant the link is for.' })),
    application: Type.Optional(Type.String({ description: 'The client id of the application whose token obtained the link.' })),
    issuer: Type.Optional(Type.String({ description: '`external` when that token came from the external OpenID issuer; absent otherwise.' })),
    expires: Type.Optional(Type.String({ description: 'The link’s expiry, Unix seconds.' })),
    signature: Type.Optional(Type.String({ description: 'base64url HMAC-SHA256 of the rest under DOWNLOAD_LINK_KEY.' })),
  },
  { additionalProperties: true },
);

export const DownloadLinkAnswers = {
  302: answer(
    Type.Null(),
    'The link is valid: `Location` is a presigned GET of the ZIP for the store’s public address, valid DOWNLOAD_REDIRECT_TTL_SECONDS (default 300).',
    [null],
    {
      location: Type.String({ description: 'Presigned store URL of the hour’s ZIP.' }),
    },
  ),
  401: errorAnswer('The link is past its validity (DOWNLOAD_LINK_TTL_SECONDS after the daily endpoint gave it): ask the daily endpoint for a new one.', [
    ContractMessages.downloadLinkExpired,
  ]),
  403: errorAnswer(
    'The link is malformed, its signature is wrong or its application was revoked (checked first); or, for a valid link, the feature was disabled for the tenant since.',
    [ContractMessages.downloadLinkInvalid, ContractMessages.featureDisabled],
  ),
  404: errorAnswer('The hour’s archive no longer exists: retention removed it.', [ContractMessages.beyondRetention]),
  500: errorAnswer('Anything unexpected; details only in the log.', [ContractMessages.internal]),
};

// --- The tenant's days: GET /api/external/conversations/daily-audio-recordings?from=&to= ---

export const DayListQuery = Type.Object({
  from: Type.Optional(Type.String({ description: 'The first UTC day to list, YYYY-MM-DD. Default: the oldest day that can still be within retention.' })),
  to: Type.Optional(Type.String({ description: 'The last UTC day to list, YYYY-MM-DD. Default: today (UTC); days after today are never listed.' })),
});

/** Hours of a day per status, as the daily endpoint would report them. */
export const HourCounts = Type.Object({
  available: Type.Integer(),
  no_data: Type.Integer(),
  pending: Type.Integer(),
  failed: Type.Integer(),
});
export type HourCounts = Static<typeof HourCounts>;

export const DaySummary = Type.Object({
  date: Type.String(),
  hours: HourCounts,
  totalSessions: Type.Integer(),
  totalFiles: Type.Integer(),
  totalSizeBytes: Type.Integer(),
  generatedAt: Type.Union([Type.String(), Type.Null()]),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
});
export type DaySummary = Static<typeof DaySummary>;

export const DayList = Type.Object({
  from: Type.String({ description: 'The first day the list covers (after defaults)' }),
  to: Type.String({ description: 'The last day the list covers (after defaults)' }),
  retentionDays: Type.Integer(),
  days: Type.Array(DaySummary, { description: 'Every day of the range still within retention, oldest first' }),
});
export type DayList = Static<typeof DayList>;

const DAY_LIST_EXAMPLE: DayList = {
  from: '2025-12-12',
  to: '2025-12-15',
  retentionDays: 3,
  days: [
    {
      date: '2025-12-12',
      hours: { available: 15, no_data: 8, pending: 0, failed: 1 },
      totalSessions: 131,
      totalFiles: 704,
      totalSizeBytes: 160432128,
      generatedAt: '2025-12-13T00:41:07Z',
      expiresAt: '2025-12-16T00:41:07Z',
    },
    {
      date: '2025-12-13',
      hours: { available: 16, no_data: 8, pending: 0, failed: 0 },
      totalSessions: 140,
      totalFiles: 745,
      totalSizeBytes: 171966464,
      generatedAt: '2025-12-14T00:39:51Z',
      expiresAt: '2025-12-17T00:39:51Z',
    },
    {
      date: '2025-12-14',
      hours: { available: 0, no_data: 0, pending: 24, failed: 0 },
      totalSessions: 0,
      totalFiles: 0,
      totalSizeBytes: 0,
      generatedAt: null,
      expiresAt: null,
    },
    {
      date: '2025-12-15',
      hours: { available: 0, no_data: 0, pending: 24, failed: 0 },
      totalSessions: 0,
      totalFiles: 0,
      totalSizeBytes: 0,
      generatedAt: null,
      expiresAt: null,
    },
  ],
};

export const DayListAnswers = {
  200: answer(
    DayList,
    'Each day of the range within retention with its hours per status; days past retention are left out.',
    [DAY_LIST_EXAMPLE],
    RateLimitHeaders,
  ),
  ...externalAnswers([ContractMessages.invalidDay, DayListMessages.rangeReversed]),
};

// --- Host: tenants, the feature, applications, runs ---

export const TenantId = Type.String({ pattern: TENANT_ID_PATTERN, description: 'Letters, digits, "-" and "_", 1-64' });
export const TenantParams = Type.Object({ tenantId: TenantId });
/**
 * Text PostgreSQL stores as sent: no NUL (text cannot hold it) and no lone UTF-16 surrogate (it has
 * no UTF-8 form; the driver would write U+FFFD instead). Ajv compiles patterns with the `u` flag,
 * so a surrogate pair is one character and matches neither range.
 */
const STORABLE_TEXT_PATTERN = '^[^\\u0000\\ud800-\\udfff]*$';
export const ApplicationParams = Type.Object({
  tenantId: TenantId,
  clientId: Type.String({ minLength: 1, maxLength: 100, pattern: STORABLE_TEXT_PATTERN }),
});

export const Tenant = Type.Object({
  id: Type.String(),
  name: Type.String(),
  dailyAudioRecordings: Type.Object({ enabled: Type.Boolean(), retentionDays: Type.Integer() }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Tenant = Static<typeof Tenant>;

// Refused by the schema with a 400 naming the field, not a 500 from the database or a name stored altered.
export const Name = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: STORABLE_TEXT_PATTERN,
  description: '1-200 characters, no NUL, no unpaired surrogate',
});

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
    utcDay: Type.String({ description: 'A past UTC day, YYYY-MM-DD' }),
    tenantIds: Type.Optional(Type.Array(TenantId, { minItems: 1, maxItems: 10_000, uniqueItems: true })),
    force: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const StartedRun = Type.Object({ runId: Type.String(), created: Type.Boolean() });
export type StartedRun = Static<typeof StartedRun>;

export const RunParams = Type.Object({ runId: Type.String({ minLength: 1, maxLength: 200, pattern: STORABLE_TEXT_PATTERN }) });

export const RunHour = Type.Object({
  tenantId: Type.String(),
  utcDay: Type.Optional(Type.String({ description: 'A reconciliation run only: the day of this hour' })),
  hour: Type.String(),
  status: Type.Enum(ARCHIVE_STATUSES),
  attempts: Type.Integer(),
  lastError: Type.Union([Type.String(), Type.Null()]),
});

export const RunReport = Type.Object({
  runId: Type.String(),
  kind: Type.Union([Type.Literal('day'), Type.Literal('reconcile')], {
    description: 'day: every hour of its tenants on utcDay; reconcile: the hours a reconciliation pass regenerates, each with its own utcDay',
  }),
  utcDay: Type.String({ description: 'The run’s day; for a reconciliation run, the newest day its pass compared' }),
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
  failedHours: Type.Array(Type.Object({ tenantId: Type.String(), utcDay: Type.Optional(Type.String()), hour: Type.String(), error: Type.String() })),
  hours: Type.Array(RunHour),
});
export type RunReport = Static<typeof RunReport>;

export const RunListQuery = Type.Object({
  utcDay: Type.Optional(Type.String({ description: 'Only the runs of this UTC day, YYYY-MM-DD.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'At most this many runs (default 50).' })),
});

const RunRound = Type.Object({
  round: Type.Integer(),
  jobs: Type.Union([Type.Integer(), Type.Null()], { description: 'Tenant-hour jobs of the round; null while it is being enqueued' }),
  failed: Type.Union([Type.Integer(), Type.Null()], { description: 'Jobs that failed; null until the round is over' }),
  startedAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
});

export const RunSummary = Type.Object({
  runId: Type.String(),
  kind: Type.Union([Type.Literal('day'), Type.Literal('reconcile')], {
    description: 'day: every hour of its tenants on utcDay; reconcile: the hours a reconciliation pass regenerates',
  }),
  utcDay: Type.String(),
  trigger: Type.Union([Type.Literal('nightly'), Type.Literal('manual'), Type.Literal('scheduled')]),
  force: Type.Boolean(),
  state: Type.Union(
    [Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('completed_with_failures'), Type.Literal('failed')],
    { description: 'queued: recorded, round 1 not started; failed: a round could not be enqueued at all' },
  ),
  round: Type.Integer({ description: 'The current (or last) round, 1-3; 0 while queued' }),
  tenantCount: Type.Integer(),
  jobCount: Type.Integer({ description: 'Tenant-hour jobs of every round so far' }),
  startedAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  rounds: Type.Array(RunRound),
});
export type RunSummary = Static<typeof RunSummary>;

const TENANT_EXAMPLE: Tenant = {
  id: 'acme',
  name: 'Acme Telecom',
  dailyAudioRecordings: { enabled: true, retentionDays: 3 },
  createdAt: '2025-12-01T09:30:00.000Z',
  updatedAt: '2025-12-01T09:31:12.000Z',
};
const APPLICATION_EXAMPLE: Application = {
  clientId: 'app_5f1d3c9a8b7e4d2c',
  tenantId: 'acme',
  name: 'compliance export',
  scopes: [Scopes.external],
  createdAt: '2025-12-01T09:32:00.000Z',
  revokedAt: null,
};
const RUN_REPORT_EXAMPLE: RunReport = {
  runId: 'manual-2025-12-12-4f9a1c2b3d4e',
  kind: 'day',
  utcDay: '2025-12-12',
  trigger: 'manual',
  force: false,
  state: 'completed',
  round: 1,
  startedAt: '2025-12-13T10:00:00.000Z',
  finishedAt: '2025-12-13T10:00:41.000Z',
  tenantCount: 1,
  jobCount: 24,
  counts: { pending: 0, available: 16, no_data: 8, failed: 0, expired: 0 },
  rounds: [{ round: 1, jobs: 24, failed: 0, startedAt: '2025-12-13T10:00:00.000Z', finishedAt: '2025-12-13T10:00:41.000Z' }],
  failedHours: [],
  hours: [{ tenantId: 'acme', hour: '00', status: 'no_data', attempts: 1, lastError: null }],
};

// --- A tenant's downloads: GET /api/host/tenants/{tenantId}/downloads?utcDay= ---

export const DownloadsQuery = Type.Object({
  utcDay: Type.Optional(Type.String({ description: 'Only the downloads of this UTC day’s links, YYYY-MM-DD. Default: every day.' })),
});

export const Download = Type.Object({
  occurredAt: Type.String({ description: 'When the link endpoint answered' }),
  clientId: Type.Union([Type.String(), Type.Null()], { description: 'The application that obtained the link; null for a link too malformed to name one' }),
  utcDay: Type.Union([Type.String(), Type.Null()]),
  hour: Type.Union([Type.String(), Type.Null()], { description: '"00" to "23"; null for a link too malformed to name one' }),
  status: Type.Integer({ description: 'The answer: 302 (redirected to the archive), 401, 403, 404 or 500' }),
  sha256: Type.Union([Type.String(), Type.Null()], { description: 'SHA-256 of the archive the answer redirected to; null unless 302' }),
  address: Type.String({ description: 'The client’s address' }),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  requestId: Type.String(),
});
export type Download = Static<typeof Download>;

/** The answers every host endpoint may give besides its own. */
export const HostErrorAnswers = {
  400: errorAnswer('The request is not valid: the message names the field or the rule.', ['body.retentionDays must be <= 7']),
  401: errorAnswer('The token is missing, malformed, badly signed or expired.', [ContractMessages.unauthorized], CHALLENGE_HEADER),
  403: errorAnswer('The token lacks the host_admin scope.', [HostMessages.missingHostScope], SCOPE_CHALLENGE_HEADER),
  404: errorAnswer('The tenant, application or run does not exist.', ['tenant acme not found']),
  500: errorAnswer('Anything unexpected; details only in the log.', [ContractMessages.internal]),
};

export const HostAnswers = {
  runNotQueued: errorAnswer('The job queue (Redis) did not take the run: it is recorded as failed; try again later.', [RUN_NOT_QUEUED_MESSAGE]),
  tenantSaved: answer(Tenant, 'The tenant as saved.', [TENANT_EXAMPLE]),
  tenantCreated: answer(Tenant, 'The tenant was created.', [TENANT_EXAMPLE]),
  tenant: answer(Tenant, 'The tenant.', [TENANT_EXAMPLE]),
  tenants: answer(Type.Array(Tenant), 'Every tenant.', [[TENANT_EXAMPLE]]),
  feature: answer(Tenant, 'The tenant with its feature settings as saved.', [TENANT_EXAMPLE]),
  createdApplication: answer(CreatedApplication, 'The application; its secret is shown only in this answer.', [
    { clientId: APPLICATION_EXAMPLE.clientId, clientSecret: 'sec_2kQm...', application: APPLICATION_EXAMPLE },
  ]),
  applications: answer(Type.Array(Application), 'The tenant’s applications, without secrets.', [[APPLICATION_EXAMPLE]]),
  revokedApplication: answer(Application, 'The application as revoked.', [{ ...APPLICATION_EXAMPLE, revokedAt: '2025-12-20T08:00:00.000Z' }]),
  startedRun: answer(StartedRun, 'The run was recorded and its first round queued (created: false when the nightly run of that day already existed).', [
    { runId: 'manual-2025-12-12-4f9a1c2b3d4e', created: true },
  ]),
  run: answer(RunReport, 'The run: its state, rounds, counts and every tenant-hour (shortened here).', [RUN_REPORT_EXAMPLE]),
  runs: answer(Type.Array(RunSummary), 'Runs, newest first, without their tenant-hours.', [
    [
      {
        runId: 'nightly-2025-12-12',
        kind: 'day',
        utcDay: '2025-12-12',
        trigger: 'nightly',
        force: false,
        state: 'completed_with_failures',
        round: 3,
        tenantCount: 2,
        jobCount: 50,
        startedAt: '2025-12-13T00:15:00.012Z',
        finishedAt: '2025-12-13T00:52:10.481Z',
        rounds: [
          { round: 1, jobs: 48, failed: 1, startedAt: '2025-12-13T00:15:00.412Z', finishedAt: '2025-12-13T00:41:07.003Z' },
          { round: 2, jobs: 1, failed: 1, startedAt: '2025-12-13T00:41:07.120Z', finishedAt: '2025-12-13T00:46:31.775Z' },
          { round: 3, jobs: 1, failed: 1, startedAt: '2025-12-13T00:46:31.880Z', finishedAt: '2025-12-13T00:52:10.470Z' },
        ],
      },
    ],
  ]),
  downloads: answer(Type.Array(Download), 'The tenant’s last 100 answers of the download link endpoint (of the day, when given), newest first.', [
    [
      {
        occurredAt: '2025-12-13T09:12:44.120Z',
        clientId: APPLICATION_EXAMPLE.clientId,
        utcDay: '2025-12-12',
        hour: '14',
        status: 302,
        sha256: EXAMPLE_SHA256,
        address: '203.0.113.7',
        userAgent: 'curl/8.5.0',
        requestId: '0b6f3c1e-8a2d-4f5b-9c7e-1d2a3b4c5d6e',
      },
    ],
  ]),
};

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

export const OperationsAnswers = {
  health: answer(Health, 'The process is up.', [{ status: 'ok' }]),
  ready: answer(Readiness, 'PostgreSQL, Redis and the object store answer.', [{ status: 'ready', checks: { postgres: 'ok', redis: 'ok', store: 'ok' } }]),
  unavailable: answer(Readiness, 'A dependency does not answer; `checks` names it.', [
    { status: 'unavailable', checks: { postgres: 'ok', redis: 'unavailable', store: 'ok' } },
  ]),
  metrics: {
    description: 'Prometheus text exposition format.',
    content: {
      'text/plain': {
        schema: Type.String(),
        example:
          '# HELP dcar_daily_recordings_requests_total Daily-recordings requests by outcome\n# TYPE dcar_daily_recordings_requests_total counter\ndcar_daily_recordings_requests_total{outcome="ok"} 42\n',
      },
    },
  },
};

const WEBHOOK_EXAMPLE: Webhook = {
  url: 'https://exporter.example.com/hooks/daily-audio',
  enabled: true,
  createdAt: '2025-12-01T09:40:00.000Z',
  updatedAt: '2025-12-01T09:40:00.000Z',
};
const WEBHOOK_SECRET_EXAMPLE = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

export const WebhookAnswers = {
  put: answer(PutWebhookAnswer, 'The webhook as saved; `secret` only when this request created it.', [
    { ...WEBHOOK_EXAMPLE, secret: WEBHOOK_SECRET_EXAMPLE },
    WEBHOOK_EXAMPLE,
  ]),
  webhook: answer(Webhook, 'The tenant’s webhook, without its secret.', [WEBHOOK_EXAMPLE]),
  deleted: answer(Type.Null(), 'The webhook was removed; deliveries still pending were cancelled.', [null]),
  rotated: answer(WebhookWithSecret, 'The webhook with its new secret, shown only here.', [{ ...WEBHOOK_EXAMPLE, secret: WEBHOOK_SECRET_EXAMPLE }]),
  deliveries: answer(Type.Array(WebhookDelivery), 'The last 100 deliveries, newest first.', [
    [
      {
        eventId: 'msg_2f8c1d0e9b7a4c3d5e6f',
        type: 'daily_audio_recordings.day.completed',
        state: 'delivered',
        attempts: 1,
        lastStatusCode: 204,
        lastError: null,
        createdAt: '2025-12-13T00:41:07.000Z',
        deliveredAt: '2025-12-13T00:41:07.000Z',
        failedAt: null,
      },
    ],
  ]),
};
