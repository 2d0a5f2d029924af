import {
  createSecretBox,
  deleteWebhook,
  getWebhook,
  listWebhookDeliveries,
  putWebhook,
  rotateWebhookSecret,
  systemResolveHost,
  type WebhookRegistrationDeps,
} from '@dcar/webhooks';
import { UsageError, parseBooleanFlag, parseCommandArgs, type Command, type CommandContext } from './cli.js';

function registrationDeps({ config, db, logger }: CommandContext): WebhookRegistrationDeps {
  return {
    db,
    secrets: createSecretBox(config.webhooks.secretKey),
    policy: { allowInsecure: config.webhooks.allowInsecure },
    resolveHost: systemResolveHost,
    logger,
  };
}

export const webhookSet: Command = {
  usage: 'webhook set <tenantId> --url <https://...> [--enabled true|false]',
  summary: "register or change a tenant's webhook; its signing secret is printed when created",
  async run(ctx, args) {
    const { values, positionals } = parseCommandArgs(args, { url: { type: 'string' }, enabled: { type: 'string' } }, 1);
    if (!values.url) throw new UsageError('--url is required');
    const enabled = values.enabled === undefined ? true : parseBooleanFlag('enabled', values.enabled);
    return { output: await putWebhook(registrationDeps(ctx), positionals[0]!, { url: values.url, enabled }) };
  },
};

export const webhookGet: Command = {
  usage: 'webhook get <tenantId>',
  summary: "show a tenant's webhook (no secret)",
  async run({ db }, args) {
    const { positionals } = parseCommandArgs(args, {}, 1);
    return { output: await getWebhook(db, positionals[0]!) };
  },
};

export const webhookDelete: Command = {
  usage: 'webhook delete <tenantId>',
  summary: "remove a tenant's webhook and cancel its pending deliveries",
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {}, 1);
    await deleteWebhook(registrationDeps(ctx), positionals[0]!);
    return { output: { tenantId: positionals[0]!, deleted: true } };
  },
};

export const webhookRotateSecret: Command = {
  usage: 'webhook rotate-secret <tenantId>',
  summary: "give a tenant's webhook a new signing secret, printed only here",
  async run(ctx, args) {
    const { positionals } = parseCommandArgs(args, {}, 1);
    return { output: await rotateWebhookSecret(registrationDeps(ctx), positionals[0]!) };
  },
};

export const webhookDeliveries: Command = {
  usage: 'webhook deliveries <tenantId>',
  summary: "the last 100 deliveries of a tenant's webhook, newest first",
  async run({ db }, args) {
    const { positionals } = parseCommandArgs(args, {}, 1);
    return { output: await listWebhookDeliveries(db, positionals[0]!) };
  },
};
