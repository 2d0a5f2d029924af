import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // One endpoint per tenant. The signing secret is kept encrypted (AES-256-GCM, key from
  // WEBHOOK_SECRET_KEY): the worker needs it in clear to sign, so it cannot be hashed.
  await knex.schema.createTable('tenant_webhooks', (t) => {
    t.text('tenant_id').primary().references('tenants.id').onDelete('CASCADE');
    t.text('url').notNullable();
    t.boolean('enabled').notNullable().defaultTo(true);
    t.text('secret_ciphertext').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  // One row per event sent to a tenant: the exact body that is signed on every attempt, and where
  // its delivery stands. The idempotency key makes emitting the same event twice a no-op.
  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.text('id').primary();
    t.text('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.text('type').notNullable();
    t.text('payload').notNullable();
    t.text('idempotency_key').notNullable().unique({ indexName: 'webhook_deliveries_idempotency_key_key' });
    t.text('state').notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.integer('last_status_code');
    t.text('last_error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('delivered_at', { useTz: true });
    t.timestamp('failed_at', { useTz: true });
    t.check("state in ('pending', 'delivered', 'failed')", [], 'webhook_deliveries_state_check');
  });
  // A tenant's latest deliveries, newest first (the host's delivery log).
  await knex.raw('create index webhook_deliveries_tenant_created_idx on webhook_deliveries (tenant_id, created_at desc, id desc)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('webhook_deliveries');
  await knex.schema.dropTableIfExists('tenant_webhooks');
}
