import type { Knex, Logger } from '@dcar/platform';

export interface AccessRecord {
  tenant_id: string | null;
  client_id: string | null;
  utc_day: string | null;
  status_code: number;
  remote_address: string;
  user_agent: string | null;
  request_id: string;
}

/**
 * Writes access records durably, many per statement: records arriving while a write is in flight
 * go together in the next one, so under load one commit (one WAL flush) covers many requests
 * instead of one each, and every caller still learns when its own record is committed.
 */
export function createAccessAuditWriter(db: Knex, logger: Logger, maxBatch = 500) {
  let queue: Array<{ record: AccessRecord; done: (error?: unknown) => void }> = [];
  let writing = false;

  const drain = async (): Promise<void> => {
    writing = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      try {
        await db('access_audit_log').insert(batch.map((item) => item.record));
        for (const item of batch) item.done();
      } catch (error) {
        logger.error({ err: error, records: batch.length }, 'access audit records could not be written');
        for (const item of batch) item.done(error);
      }
    }
    writing = false;
  };

  return {
    record(record: AccessRecord): Promise<void> {
      return new Promise((resolve, reject) => {
        queue.push({ record, done: (error) => (error ? reject(error) : resolve()) });
        if (!writing) void drain();
      });
    },
  };
}

export type AccessAuditWriter = ReturnType<typeof createAccessAuditWriter>;
