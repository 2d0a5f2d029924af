import type { Logger } from 'pino';

/** Set once a signal (or a request) began the shutdown; the process is then on its way out. */
let shutdownBegun = false;

/**
 * Whether the shutdown has begun. A start still waiting on a dependency fails when the shutdown
 * closes that dependency's client: `guardStartup` asks this to tell that expected end from a real
 * start failure.
 */
export function isShuttingDown(): boolean {
  return shutdownBegun;
}

export interface ShutdownStep {
  name: string;
  /** May return a promise, which is awaited. */
  close(): unknown;
}

/**
 * Runs on SIGTERM/SIGINT: closes the steps in the order given (list them in reverse order of
 * start: server or workers first, then queues, database, Redis) and exits. The whole shutdown has
 * `timeoutMs`; past it the process exits with code 1 so an orchestrator is never kept waiting.
 */
export function installShutdown(options: { logger: Logger; timeoutMs: number; steps: () => ShutdownStep[] }): () => Promise<void> {
  let shuttingDown: Promise<void> | null = null;
  const shutdown = (signal: string): Promise<void> => {
    if (shuttingDown) return shuttingDown;
    shutdownBegun = true;
    options.logger.info({ signal, timeoutMs: options.timeoutMs }, 'shutting down');
    const timer = setTimeout(() => {
      options.logger.error({ timeoutMs: options.timeoutMs }, 'shutdown timed out, exiting');
      process.exit(1);
    }, options.timeoutMs);
    timer.unref();
    shuttingDown = (async () => {
      let failed = false;
      for (const step of options.steps()) {
        try {
          await step.close();
        } catch (error) {
          failed = true;
          options.logger.error({ err: error, step: step.name }, 'shutdown step failed');
        }
      }
      clearTimeout(timer);
      options.logger.info('shut down');
      process.exit(failed ? 1 : 0);
    })();
    return shuttingDown;
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  return () => shutdown('request');
}
