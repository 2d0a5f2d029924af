/** The contract's error messages (CONTRACT §4.2), exact: clients are coded against them. */
export const ContractMessages = {
  invalidDay: "Invalid date format for 'utcDay'. Please use the format YYYY-MM-DD.",
  futureDay: "'utcDay' cannot be in the future. Please provide a past date.",
  unauthorized: 'Unauthorized access. The provided token is invalid or has expired. Please authenticate again.',
  missingScope: "The access token does not grant the 'dataservice_external' scope.",
  featureDisabled: 'The daily conversation audio recordings feature is not enabled for this tenant. Please contact your administrator.',
  beyondRetention: 'The requested date is older than the allowed retention period and cannot be retrieved.',
  rateLimited: 'Download limit exceeded. Please try again later.',
  downloadLinkInvalid: 'The download link is invalid.',
  downloadLinkExpired: 'The download link has expired. Please request a new presigned URL to access the audio files.',
  internal: 'Internal server error.',
} as const;

/** The answer when the job queue (Redis) could not take a manual run: the run is recorded as failed. */
export const RUN_NOT_QUEUED_MESSAGE = 'The run could not be queued (the job queue is unavailable); it was recorded as failed. Try again later.';

/**
 * An error whose message is written for the caller (an API client, the host, an operator at the
 * terminal) and is shown as is, with the HTTP status it answers. Every other error is unexpected:
 * its message goes to the log only. The API's error handler and the admin CLI recognise it by class.
 */
export class UserFacingError extends Error {
  constructor(
    readonly statusCode: 400 | 401 | 403 | 404 | 409 | 429 | 503,
    message: string,
  ) {
    super(message);
    this.name = 'UserFacingError';
  }
}

/** Scopes a token may carry. */
export const Scopes = {
  external: 'dataservice_external',
  hostAdmin: 'host_admin',
} as const;
export type Scope = (typeof Scopes)[keyof typeof Scopes];
export const ALL_SCOPES: readonly Scope[] = [Scopes.external, Scopes.hostAdmin];
