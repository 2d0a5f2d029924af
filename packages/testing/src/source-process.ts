import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository's root, where `services/` and `packages/` are (the same seen from src/ and dist/). */
export const REPOSITORY_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The export condition under which workspace packages give their TypeScript source instead of dist/. */
export const SOURCE_CONDITION = '@dcar/source';

/** Entry points that run as processes of their own. */
export const SOURCE_ENTRY_POINTS = {
  api: 'services/api/src/main.ts',
  scheduler: 'services/scheduler/src/main.ts',
  worker: 'services/worker/src/main.ts',
  admin: 'packages/admin/src/main.ts',
  migrate: 'packages/platform/src/migrate-cli.ts',
} as const;
export type SourceEntryPoint = keyof typeof SOURCE_ENTRY_POINTS;

/**
 * The command that runs a TypeScript entry point from source, as `pnpm dev:*` does: this Node.js
 * with tsx, and workspace packages resolved to their src/ (without the condition they would load
 * dist/, which may be stale or missing). Tests, the demo and the benchmarks start every process
 * through this. Spawn it with `cwd: REPOSITORY_ROOT`; `entryPoint` is a name above or a path.
 */
export function sourceCommand(entryPoint: SourceEntryPoint | (string & {}), args: readonly string[] = []): { command: string; args: string[] } {
  const path = Object.hasOwn(SOURCE_ENTRY_POINTS, entryPoint) ? SOURCE_ENTRY_POINTS[entryPoint as SourceEntryPoint] : entryPoint;
  return { command: process.execPath, args: [`--conditions=${SOURCE_CONDITION}`, '--import', 'tsx', path, ...args] };
}

export interface ServiceProcess {
  child: ChildProcess;
  /** Everything it wrote, for the assertion message when a test fails. */
  output(): string;
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Starts a service (or any TypeScript entry point, e.g. a test's fixture) from source as its own
 * process, as `pnpm dev:<name>` does, with only `env` (plus PATH and HOME). `stdin: true` leaves its
 * standard input open for the test to write to (`child.stdin`).
 */
export function startService(
  entryPoint: SourceEntryPoint | (string & {}),
  env: Record<string, string>,
  options: { args?: readonly string[]; stdin?: boolean } = {},
): ServiceProcess {
  const { command, args } = sourceCommand(entryPoint, options.args);
  const child = spawn(command, args, {
    cwd: REPOSITORY_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
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
