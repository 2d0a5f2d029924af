import { readFileSync } from 'node:fs';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';

/**
 * The machinery behind config.ts: variables are declared in groups (one zod schema per variable),
 * each service composes the groups it uses into its own loader, and every problem is reported as
 * one line naming the variable.
 */

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The one-line message every configuration problem gets: `<VARIABLE> must be <requirement>`. */
export function invalid(variable: string, requirement: string): ConfigError {
  return new ConfigError(`Invalid configuration: ${variable} must ${requirement}`);
}

export const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
  );

export const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `an integer from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `an integer from ${min} to ${max}`);

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: `one of ${values.join(', ')}` });

export const bucket = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name (3-63 of a-z, 0-9, ".", "-")');

/**
 * Parsed by cron-parser, the version BullMQ's job schedulers use, so a pattern accepted here is one
 * the scheduler can install: a field out of range (`60 * * * *`) or not a number stops the start
 * with a line naming the variable rather than failing later inside BullMQ.
 */
function isCronPattern(value: string): boolean {
  if (!/^\S+(\s+\S+){4,5}$/.test(value.trim())) return false;
  try {
    CronExpressionParser.parse(value.trim(), { tz: 'UTC' });
    return true;
  } catch {
    return false;
  }
}

export const cron = z.string().refine(isCronPattern, 'a cron pattern of 5 or 6 fields, e.g. "15 0 * * *"');

interface SecretRules {
  /** Used when the variable is unset outside production; refused in production, as is leaving it unset. */
  developmentDefault?: string;
  /** Shortest value production accepts (keys and passwords this system checks itself). */
  productionMinLength?: number;
}

const secrets = new WeakMap<z.core.$ZodType, SecretRules>();

/**
 * Declares a secret variable: it may also be given as a file path in `<NAME>_FILE` (Docker and
 * Kubernetes secrets), its value is never echoed in a message, and production can refuse a
 * development default or a short value.
 */
export function secret<T extends z.ZodType<string | undefined, string | undefined>>(
  schema: T,
  rules: SecretRules & { developmentDefault: string },
): z.ZodDefault<T>;
export function secret<T extends z.ZodType>(schema: T, rules?: Omit<SecretRules, 'developmentDefault'>): T;
export function secret(schema: z.ZodType, rules: SecretRules = {}): z.ZodType {
  const declared = rules.developmentDefault === undefined ? schema : schema.default(rules.developmentDefault);
  secrets.set(declared, rules);
  return declared;
}

export interface ReadContext {
  production: boolean;
}

/** Variables that belong together, and how their validated values become a part of a service's config. */
export interface ConfigGroup<Shape extends z.ZodRawShape, Section extends object> {
  readonly variables: Shape;
  // A method, not a function property: a group of any shape then fits where groups are listed.
  read(values: z.output<z.ZodObject<Shape>>, context: ReadContext): Section;
}

export function configGroup<Shape extends z.ZodRawShape, Section extends object>(
  variables: Shape,
  read: (values: z.output<z.ZodObject<Shape>>, context: ReadContext) => Section,
): ConfigGroup<Shape, Section> {
  return { variables, read };
}

type AnyGroup = ConfigGroup<z.ZodRawShape, object>;
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
type Flatten<T> = { [K in keyof T]: T[K] } & {};
export type ConfigOf<Groups extends readonly AnyGroup[]> = Flatten<UnionToIntersection<ReturnType<Groups[number]['read']>>>;

/** A config section two groups may both add to (`webhooks: {...}`), as opposed to a value. */
function isSection(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Values of secrets given as `<NAME>_FILE`, read from their files. */
function readSecretFiles(shape: z.ZodRawShape, present: Record<string, string>): { values: Record<string, string>; fromFile: Set<string> } {
  const values = { ...present };
  const fromFile = new Set<string>();
  for (const [name, schema] of Object.entries(shape)) {
    const file = present[`${name}_FILE`];
    if (!secrets.has(schema) || file === undefined) continue;
    if (present[name] !== undefined) throw invalid(`${name}_FILE`, `not be set together with ${name}`);
    try {
      values[name] = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw invalid(`${name}_FILE`, `be a readable file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    fromFile.add(name);
  }
  return { values, fromFile };
}

/** Production refuses secrets left at their development default, or shorter than they must be. */
function checkProductionSecrets(shape: z.ZodRawShape, values: Record<string, string>, fromFile: Set<string>): void {
  for (const [name, schema] of Object.entries(shape)) {
    const rules = secrets.get(schema);
    if (!rules) continue;
    const value = values[name];
    const variable = fromFile.has(name) ? `${name}_FILE` : name;
    if (value === undefined) {
      if (rules.developmentDefault !== undefined) throw invalid(name, 'be set when NODE_ENV=production');
      continue;
    }
    if (value === rules.developmentDefault) throw invalid(variable, 'not be the development default when NODE_ENV=production');
    if (rules.productionMinLength !== undefined && value.length < rules.productionMinLength) {
      throw invalid(variable, `${fromFile.has(name) ? 'hold' : 'be'} at least ${rules.productionMinLength} characters when NODE_ENV=production`);
    }
  }
}

export interface ConfigLoader<Config> {
  (env: Env): Config;
  /** Every variable the loader reads (each secret also as `<NAME>_FILE`): what its service needs to be given. */
  readonly variables: readonly string[];
}

/**
 * A service's loader: validates exactly the variables of `groups` (every other variable is
 * ignored) and merges the groups' sections (one level deep: two groups may fill one section). The
 * first problem throws a ConfigError of one line.
 */
export function configLoader<const Groups extends readonly AnyGroup[]>(...groups: Groups): ConfigLoader<ConfigOf<Groups>> {
  const shape: Record<string, z.core.$ZodType> = {};
  for (const group of groups) {
    for (const [name, schema] of Object.entries(group.variables)) {
      if (shape[name] !== undefined && shape[name] !== schema) throw new Error(`${name} is declared by two configuration groups`);
      shape[name] = schema;
    }
  }
  const schema = z.object(shape);
  const variables = Object.keys(shape).flatMap((name) => (secrets.has(shape[name]!) ? [name, `${name}_FILE`] : [name]));

  const load = (env: Env): ConfigOf<Groups> => {
    // An empty variable means "not set", as in most shells' `VAR= command`.
    const present = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''));
    const { values, fromFile } = readSecretFiles(shape, present);
    const parsed = schema.safeParse(values);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const name = String(issue?.path[0] ?? 'environment');
      const requirement = issue?.message ?? 'valid';
      if (fromFile.has(name)) throw invalid(`${name}_FILE`, `hold ${requirement}`);
      const got = values[name];
      const echo = got !== undefined && !secrets.has(shape[name]!) ? ` (got ${JSON.stringify(got)})` : '';
      throw invalid(name, `be ${requirement}${echo}`);
    }
    const context: ReadContext = { production: values.NODE_ENV === 'production' };
    if (context.production) checkProductionSecrets(shape, values, fromFile);
    const data = parsed.data as Record<string, unknown>;
    const config: Record<string, unknown> = {};
    for (const group of groups) {
      for (const [key, value] of Object.entries(group.read(data as never, context))) {
        const earlier = config[key];
        config[key] = isSection(earlier) && isSection(value) ? { ...earlier, ...value } : value;
      }
    }
    return config as ConfigOf<Groups>;
  };
  return Object.assign(load, { variables: Object.freeze(variables) });
}

/** For composition roots: the validated config, or its one line on stderr and exit code 1. */
export function loadConfigOrExit<T>(load: (env: Env) => T, env: Env): T {
  try {
    return load(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
