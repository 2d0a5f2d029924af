import { createApplication, getTenant, listApplications, listTenants, putTenant, revokeApplication, setDailyAudioFeature } from '@dcar/host';
import { UsageError, parseBooleanFlag, parseCommandArgs, parseIntegerFlag, type Command } from './cli.js';

export const tenantPut: Command = {
  usage: 'tenant put <tenantId> --name <name>',
  summary: 'create a tenant, or rename it',
  async run({ db }, args) {
    const { values, positionals } = parseCommandArgs(args, { name: { type: 'string' } }, 1);
    if (!values.name) throw new UsageError('--name is required');
    const { tenant, created } = await putTenant(db, positionals[0]!, { name: values.name });
    return { output: { ...tenant, created } };
  },
};

export const tenantGet: Command = {
  usage: 'tenant get <tenantId>',
  summary: 'show a tenant with its daily audio recordings settings',
  async run({ db }, args) {
    const { positionals } = parseCommandArgs(args, {}, 1);
    return { output: await getTenant(db, positionals[0]!) };
  },
};

export const tenantList: Command = {
  usage: 'tenant list',
  summary: 'list every tenant',
  async run({ db }, args) {
    parseCommandArgs(args, {}, 0);
    return { output: await listTenants(db) };
  },
};

export const featureSet: Command = {
  usage: 'feature set <tenantId> --enabled true|false [--retention-days 1-7]',
  summary: 'enable or disable daily audio recordings for a tenant, and set its retention',
  async run({ db }, args) {
    const { values, positionals } = parseCommandArgs(args, { enabled: { type: 'string' }, 'retention-days': { type: 'string' } }, 1);
    const enabled = parseBooleanFlag('enabled', values.enabled);
    const retentionDays = parseIntegerFlag('retention-days', values['retention-days']);
    return { output: await setDailyAudioFeature(db, positionals[0]!, { enabled, retentionDays }) };
  },
};

export const appCreate: Command = {
  usage: 'app create <tenantId> --name <name> [--scopes dataservice_external]',
  summary: 'create an application (client credentials); its secret is printed only here',
  async run({ db }, args) {
    const { values, positionals } = parseCommandArgs(args, { name: { type: 'string' }, scopes: { type: 'string' } }, 1);
    if (!values.name) throw new UsageError('--name is required');
    const scopes = values.scopes
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const { clientId, clientSecret, application } = await createApplication(db, positionals[0]!, { name: values.name, scopes });
    return { output: { clientId, clientSecret, tenantId: application.tenantId, name: application.name, scopes: application.scopes } };
  },
};

export const appList: Command = {
  usage: 'app list <tenantId>',
  summary: "list a tenant's applications (no secrets)",
  async run({ db }, args) {
    const { positionals } = parseCommandArgs(args, {}, 1);
    return { output: await listApplications(db, positionals[0]!) };
  },
};

export const appRevoke: Command = {
  usage: 'app revoke <tenantId> <clientId>',
  summary: 'revoke an application: its tokens stop working at once',
  async run({ db }, args) {
    const { positionals } = parseCommandArgs(args, {}, 2);
    return { output: await revokeApplication(db, positionals[0]!, positionals[1]!) };
  },
};
