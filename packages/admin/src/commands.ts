import type { Command } from './cli.js';
import { runCommand } from './run-command.js';
import { appCreate, appList, appRevoke, featureSet, tenantGet, tenantList, tenantPut } from './host-commands.js';
import { webhookDelete, webhookDeliveries, webhookGet, webhookRotateSecret, webhookSet } from './webhook-commands.js';

export * from './cli.js';

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
};

/** Finds the command named by the first one or two words of `argv`; the rest are its arguments. */
export function findCommand(argv: string[]): { command: Command; args: string[] } | null {
  const two = argv.slice(0, 2).join(' ');
  if (COMMANDS[two]) return { command: COMMANDS[two], args: argv.slice(2) };
  const one = argv[0] ?? '';
  if (COMMANDS[one]) return { command: COMMANDS[one], args: argv.slice(1) };
  return null;
}

export function usageText(): string {
  return `usage: pnpm admin <command>\n${Object.values(COMMANDS)
    .map((c) => `  ${c.usage}`)
    .join('\n')}`;
}
