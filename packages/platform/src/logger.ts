import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Fields that must never reach a log line in full: credentials, tokens and presigned URLs. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.client_secret',
  '*.clientSecret',
  'client_secret',
  'clientSecret',
  'access_token',
  '*.access_token',
  // Webhook signing secrets (`whsec_...`), shown to the host once and never written to a log.
  'secret',
  '*.secret',
  'webhookSecret',
  '*.webhookSecret',
  // Presigned download links, should a response body ever be logged. Not `req.url`: request paths
  // carry no secret and operators need them.
  'links[*].url',
  '*.links[*].url',
];

/** JSON logs to stdout, or to another file descriptor (the admin CLI keeps stdout for its result). */
export function createLogger(options: { service: string; level: string; fd?: number }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    pino.destination({ fd: options.fd ?? 1, sync: true }),
  );
}
