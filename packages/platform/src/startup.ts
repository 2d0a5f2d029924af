import type { Logger } from 'pino';
import { isShuttingDown } from './shutdown.js';

/** An error's message and code, without its stack: what an operator reads in one line. */
export function describeStartupError(error: unknown): { message: string; code?: string } {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { message: error.message || error.name, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { message: String(error) };
}

/**
 * Until `started()` is called, any error that escapes the composition root (a rejected top-level
 * await included: Node reports it as an uncaught exception) is one fatal log line,
 * `<service> could not start: <message>`, with no stack trace, and the process exits 1. After
 * `started()`, uncaught errors are Node's own again.
 *
 * A start interrupted by SIGTERM is not a failure: the shutdown closes the clients the start was
 * waiting on (a Redis that is away or stuck), the wait then rejects, and the shutdown (which exits
 * 0 once its steps are done) decides the exit code, not this.
 */
export function guardStartup(logger: Logger, service: string): { started(): void } {
  const onFailure = (error: unknown): void => {
    const { message, code } = describeStartupError(error);
    if (isShuttingDown()) {
      logger.info({ reason: message }, `${service} stopped before it started`);
      return;
    }
    logger.fatal({ reason: message, ...(code ? { code } : {}) }, `${service} could not start: ${message}`);
    process.exit(1);
  };
  process.on('uncaughtException', onFailure);
  return { started: () => void process.off('uncaughtException', onFailure) };
}
