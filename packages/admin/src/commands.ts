import type { Command } from './cli.js';
import { reconcileCommand } from './reconcile-command.js';
import { runCommand, runsCommand } from './run-command.js';
import { appCreate, appList, appRevoke, featureSet, tenantGet, tenantList, tenantPut } from './host-commands.js';
import { webhookDelete, webhookDeliveries, webhookGet, webhookRotateSecret, webhookSet } from './webhook-commands.js';

export * from './cli.js';
export { createProgressReporter, formatRound, type ProgressOutput } from './progress.js';

/** Every admin command by its words, e.g. `tenant put`. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  'tenant put': tenantPut,
  'tenant get': tenantGet,
  'tenant list': tenantList,
  'feature set': featureSet,
  'app create': appCreate,
  'app list': appList,
  'app revoke': appRevoke,
  'webhook set': webhookSet,
  'webhook get': webhookGet,
  'webhook delete': webhookDelete,
  'webhook rotate-secret': webhookRotateSecret,
  'webhook deliveries': webhookDeliveries,
  run: runCommand,
  runs: runsCommand,
  reconcile: reconcileCommand,
};

/** Finds the command named by the first one or two words of `argv`; the rest are its arguments. */
export function findCommand(argv: string[]): { name: string; command: Command; args: string[] } | null {
  const two = argv.slice(0, 2).join(' ');
  if (COMMANDS[two]) return { name: two, command: COMMANDS[two], args: argv.slice(2) };
  const one = argv[0] ?? '';
  if (COMMANDS[one]) return { name: one, command: COMMANDS[one], args: argv.slice(1) };
  return null;
}

export function usageText(): string {
  return `usage: pnpm admin <command>\n${Object.values(COMMANDS)
    .map((c) => `  ${c.usage}`)
    .join('\n')}`;
}

/** `pnpm admin --help`: every command with what it does. */
export function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  return [
    'usage: pnpm admin <command> [arguments]',
    '',
    'Host operations from a terminal: tenants, the feature, applications, webhooks and runs. Each',
    'command prints its result as JSON on stdout; errors are {"error": ...} on stderr (exit 1),',
    'wrong arguments a usage line (exit 2). Configuration: DATABASE_URL, REDIS_URL, REDIS_PREFIX,',
    'WEBHOOK_SECRET_KEY (see the README).',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`),
    '',
    'pnpm admin help <command> (or <command> --help) shows a command in full.',
  ].join('\n');
}

/** `pnpm admin help <command>`: its usage line, what it does and its options. */
export function commandHelpText(name: string, command: Command): string {
  return [`usage: pnpm admin ${command.usage}`, '', `${name}: ${command.summary}`, ...(command.details ? ['', command.details] : [])].join('\n');
}

/**
 * What `argv` asks for when it asks for help: `--help`/`-h`/`help` alone, `help <command>`, or
 * `<command> --help`. `unknown` names words that are no command.
 */
export function findHelp(argv: string[]): { text: string } | { unknown: string } | null {
  if (argv.length === 0) return null;
  if (argv.length === 1 && ['--help', '-h', 'help'].includes(argv[0]!)) return { text: helpText() };
  if (argv[0] === 'help') {
    const found = findCommand(argv.slice(1));
    if (!found || found.args.length > 0) return { unknown: argv.slice(1).join(' ') };
    return { text: commandHelpText(found.name, found.command) };
  }
  const found = findCommand(argv);
  if (found && (found.args.includes('--help') || found.args.includes('-h'))) return { text: commandHelpText(found.name, found.command) };
  return null;
}
