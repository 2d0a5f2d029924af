import { spawn, type ChildProcess } from 'node:child_process';
import { REPOSITORY_ROOT, sourceCommand } from '@dcar/testing';

export interface ServiceProcess {
  child: ChildProcess;
  /** Everything it wrote, for the assertion message when a test fails. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Starts `services/<name>/src/main.ts` as its own process, as `pnpm dev:<name>` does. */
export function startService(name: 'scheduler' | 'worker', env: Record<string, string>): ServiceProcess {
  const { command, args } = sourceCommand(name);
  const child = spawn(command, args, {
    cwd: REPOSITORY_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    output: () => output,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
