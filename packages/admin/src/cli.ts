import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { AdminConfig, Knex, Logger } from '@dcar/platform';
import type { ProgressOutput } from './progress.js';

/** What every admin command gets: validated config, a database handle, a logger, the clock, and where progress goes (stderr). */
export interface CommandContext {
  config: AdminConfig;
  db: Knex;
  logger: Logger;
  now: () => Date;
  progress: ProgressOutput;
}

/** The command's JSON result and its exit code (0 unless the command says otherwise). */
export interface CommandResult {
  output: unknown;
  exitCode?: number;
}

export interface Command {
  /** One usage line, shown on bad arguments. */
  usage: string;
  /** One line on what it does, for `pnpm admin --help`. */
  summary: string;
  /** Its options and what it prints, for `pnpm admin help <command>`. */
  details?: string;
  run(ctx: CommandContext, args: string[]): Promise<CommandResult>;
}

/** The command could not do what was asked (a wait that timed out, say): `{"error": message}` on stderr, exit 1, no stack. */
export class CommandFailed extends Error {
  override name = 'CommandFailed';
}

/** Wrong arguments: the CLI prints the message and the command's usage line and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses `args` strictly: unknown options and missing positionals are usage errors, not guesses. */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: T,
  positionals: number,
): { values: ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>>['values']; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(`expected ${positionals} argument(s), got ${parsed.positionals.length}`);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

export function parseBooleanFlag(name: string, value: string | undefined): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`--${name} must be true or false`);
}

export function parseIntegerFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new UsageError(`--${name} must be an integer`);
  return Number(value);
}
