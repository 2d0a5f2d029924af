import type { Knex, Logger } from '@dcar/platform';

export interface AccessRecord {
  tenant_id: string | null;
  client_id: string | null;
  utc_day: string | null;
  status_code: number;
  remote_address: string;
  user_agent: string | null;
  request_id: string;
  /** `download`: an answer of the link endpoint; null for the other audited endpoints. */
  action?: 'download' | null;
  /** The hour a download link named. */
  hour?: number | null;
  /** The SHA-256 of the archive a download was redirected to (302 answers only). */
  archive_sha256?: string | null;
}

/**
 * What a request carried, in a form PostgreSQL stores: it refuses NUL in text, and a lone UTF-16
 * surrogate has no UTF-8 encoding (the driver would silently write U+FFFD). Both become visible
 * escapes (`\u0000`, `\ud800`), and a backslash becomes `\\`, so an escape in the log always means
 * the request carried that character, never the six characters themselves.
 */
export function escapeForText(value: string): string {
  // eslint-disable-next-line no-control-regex -- NUL is the one control character PostgreSQL's text cannot hold: matching it is the point.
  return value.replace(/\\|\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (character) =>
    character === '\\' ? '\\\\' : `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function escapeRecord(record: AccessRecord): AccessRecord {
  const text = (value: string | null) => (value === null ? null : escapeForText(value));
  return {
    tenant_id: text(record.tenant_id),
    client_id: text(record.client_id),
    utc_day: text(record.utc_day),
    status_code: record.status_code,
    remote_address: escapeForText(record.remote_address),
    user_agent: text(record.user_agent),
    request_id: escapeForText(record.request_id),
    action: record.action ?? null,
    hour: record.hour ?? null,
    archive_sha256: record.archive_sha256 ?? null,
  };
}

/**
 * Writes access records durably, many per statement: records arriving while a write is in flight
 * go together in the next one, so under load one commit (one WAL flush) covers many requests
 * instead of one each, and every caller still learns when its own record is committed. A batch
 * the database refuses is written again record by record, so only a record that cannot be written
 * on its own fails: one bad request never costs the others their answer or their audit trail.
 */
export function createAccessAuditWriter(db: Knex, logger: Logger, maxBatch = 500) {
  let queue: Array<{ record: AccessRecord; done: (error?: unknown) => void }> = [];
  let writing = false;

  const writeOneByOne = async (batch: typeof queue): Promise<void> => {
    for (const item of batch) {
      try {
        await db('access_audit_log').insert(item.record);
        item.done();
      } catch (error) {
        logger.error({ err: error, requestId: item.record.request_id }, 'access audit record could not be written');
        item.done(error);
      }
    }
  };

  const drain = async (): Promise<void> => {
    writing = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      try {
        await db('access_audit_log').insert(batch.map((item) => item.record));
        for (const item of batch) item.done();
      } catch (error) {
        if (batch.length === 1) {
          logger.error({ err: error, requestId: batch[0]?.record.request_id }, 'access audit record could not be written');
          batch[0]?.done(error);
        } else {
          logger.warn({ err: error, records: batch.length }, 'access audit batch refused, writing its records one by one');
          await writeOneByOne(batch);
        }
      }
    }
    writing = false;
  };

  return {
    record(record: AccessRecord): Promise<void> {
      return new Promise((resolve, reject) => {
        queue.push({
          record: escapeRecord(record),
          done: (error) => (error ? reject(error instanceof Error ? error : new Error('access record not written')) : resolve()),
        });
        if (!writing) void drain();
      });
    },
  };
}

export type AccessAuditWriter = ReturnType<typeof createAccessAuditWriter>;

/** One answer of the link endpoint, as the host reads it back. */
export interface DownloadRecord {
  occurredAt: Date;
  tenantId: string | null;
  clientId: string | null;
  utcDay: string | null;
  hour: number | null;
  statusCode: number;
  archiveSha256: string | null;
  remoteAddress: string;
  userAgent: string | null;
  requestId: string;
}

/** A tenant's most recent downloads through links (of one day, when given), newest first. */
export async function listDownloads(db: Knex, filter: { tenantId: string; utcDay?: string; limit: number }): Promise<DownloadRecord[]> {
  const query = db('access_audit_log')
    .select('occurred_at', 'tenant_id', 'client_id', 'utc_day', 'hour', 'status_code', 'archive_sha256', 'remote_address', 'user_agent', 'request_id')
    .where({ tenant_id: filter.tenantId, action: 'download' })
    .orderBy([
      { column: 'occurred_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(filter.limit);
  if (filter.utcDay !== undefined) query.where({ utc_day: filter.utcDay });
  const rows = (await query) as Array<{
    occurred_at: Date;
    tenant_id: string | null;
    client_id: string | null;
    utc_day: string | null;
    hour: number | null;
    status_code: number;
    archive_sha256: string | null;
    remote_address: string;
    user_agent: string | null;
    request_id: string;
  }>;
  return rows.map((row) => ({
    occurredAt: row.occurred_at,
    tenantId: row.tenant_id,
    clientId: row.client_id,
    utcDay: row.utc_day,
    hour: row.hour,
    statusCode: row.status_code,
    archiveSha256: row.archive_sha256,
    remoteAddress: row.remote_address,
    userAgent: row.user_agent,
    requestId: row.request_id,
  }));
}
