import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPOSITORY_ROOT, sourceCommand } from '@dcar/testing/source-process';

export { freePort } from '@dcar/testing/ports';

export type ServiceName = 'api' | 'scheduler' | 'worker';

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/**
 * Starts a service from its TypeScript source, as `pnpm dev:<name>` does, with exactly the given
 * environment on top of PATH/HOME, its JSON logs going to `logFile`.
 */
export function startService(options: { service: ServiceName; name?: string; env: Record<string, string>; logDirectory: string }): ServiceProcess {
  const name = options.name ?? options.service;
  const logFile = join(options.logDirectory, `${name}.log`);
  mkdirSync(dirname(logFile), { recursive: true });
  const log = createWriteStream(logFile, { flags: 'a' });
  const { command, args } = sourceCommand(options.service);
  const child = spawn(command, args, {
    cwd: REPOSITORY_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      log.end();
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return {
    name,
    child,
    logFile,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    stop: async (graceMs = 15_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

/** Polls `url` until it answers 2xx; fails early with the log's path if the process exits first. */
export async function waitUntilHealthy(service: ServiceProcess, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitedWith: number | string | undefined;
  void service.exited.then((code) => {
    exitedWith = code;
  });
  while (Date.now() < deadline) {
    if (exitedWith !== undefined) throw new Error(`${service.name} exited (${exitedWith}) before it was healthy; see ${service.logFile}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${service.name} was not healthy at ${url} within ${timeoutMs} ms; see ${service.logFile}`);
}
