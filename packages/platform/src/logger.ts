import { isatty } from 'node:tty';
import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

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
  // Presigned download links, should a response body ever be logged. Not `req.url`: operators need
  // request paths, and the one route whose URL is a credential (a download link) logs it with its
  // signature replaced.
  'links[*].url',
  '*.links[*].url',
];

/** `json`: one JSON object per line (production, log shippers); `pretty`: pino-pretty's readable lines (a terminal). */
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  service: string;
  level: string;
  /** Default: `pretty` when the destination is a terminal, `json` otherwise (LOG_FORMAT). */
  format?: LogFormat | undefined;
  /** Names the replica on every line (REPLICA_ID), next to the machine's hostname. */
  replicaId?: string | undefined;
  /** File descriptor written to; default 1 (the admin CLI writes to 2 and keeps stdout for its result). */
  fd?: number;
}

/** The format a logger writing to `fd` uses: the one asked for, else pretty on a terminal and JSON otherwise. */
export function resolveLogFormat(format: LogFormat | undefined, fd: number): LogFormat {
  return format ?? (isatty(fd) ? 'pretty' : 'json');
}

/** The fields every line carries: the service, the machine (a container's hostname is its id) and, when set, the replica. */
export function logBase(service: string, replicaId: string | undefined): Record<string, string> {
  return { service, hostname: hostname(), ...(replicaId ? { replica: replicaId } : {}) };
}

/** pino's options every logger of the system shares: level names (not numbers), ISO times, redaction. */
export function loggerOptions(options: Pick<LoggerOptions, 'service' | 'level' | 'replicaId'>): pino.LoggerOptions {
  return {
    level: options.level,
    base: logBase(options.service, options.replicaId),
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
}

/** The stream a logger writes to: `fd` itself for JSON, through pino-pretty (colours only on a terminal) for pretty. */
export function logDestination(format: LogFormat, fd: number): DestinationStream {
  if (format === 'json') return pino.destination({ fd, sync: true });
  return pretty({
    destination: fd,
    sync: true,
    colorize: isatty(fd),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid',
    singleLine: true,
  });
}

/** JSON lines (or pino-pretty's on a terminal) to stdout, or to another file descriptor. */
export function createLogger(options: LoggerOptions): Logger {
  const fd = options.fd ?? 1;
  return pino(loggerOptions(options), logDestination(resolveLogFormat(options.format, fd), fd));
}
