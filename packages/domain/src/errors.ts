/** The contract's error messages (CONTRACT §4.2), exact: clients are coded against them. */
export const ContractMessages = {
  invalidDay: "Invalid date format for 'utcDay'. Please use the format YYYY-MM-DD.",
  futureDay: "'utcDay' cannot be in the future. Please provide a past date.",
  unauthorized: 'Unauthorized access. The provided token is invalid or has expired. Please authenticate again.',
  missingScope: "The access token does not grant the 'dataservice_external' scope.",
  featureDisabled:
    'The daily conversation audio recordings feature is not enabled for this tenant. Please contact your administrator.',
  beyondRetention: 'The requested date is older than the allowed retention period and cannot be retrieved.',
  rateLimited: 'Download limit exceeded. Please try again later.',
  internal: 'Internal server error.',
} as const;

/** An error with an HTTP status and one of the contract's bodies; route handlers throw it, one handler renders it. */
export class ContractError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ContractError';
  }
}

/** Scopes a token may carry. */
export const Scopes = {
  external: 'dataservice_external',
  hostAdmin: 'host_admin',
} as const;
export type Scope = (typeof Scopes)[keyof typeof Scopes];
export const ALL_SCOPES: readonly Scope[] = [Scopes.external, Scopes.hostAdmin];
