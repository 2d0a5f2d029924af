import { describe, expect, it } from 'vitest';
import { ARCHIVE_STATUSES, ARCHIVE_STATUS_SOURCES, GENERATED_STATUSES, emptyStatusCounts } from '../src/index.js';

describe('archive statuses', () => {
  it('name every transition by the statuses of the one list, and count every status', () => {
    expect(Object.keys(ARCHIVE_STATUS_SOURCES).sort()).toEqual([...ARCHIVE_STATUSES].sort());
    for (const sources of Object.values(ARCHIVE_STATUS_SOURCES)) {
      for (const source of sources) expect(ARCHIVE_STATUSES).toContain(source);
    }
    expect(emptyStatusCounts()).toEqual({ pending: 0, available: 0, no_data: 0, failed: 0, expired: 0 });
  });

  it('keep an available archive through a failed run, and expire only generated hours', () => {
    expect(ARCHIVE_STATUS_SOURCES.failed).not.toContain('available');
    expect([...ARCHIVE_STATUS_SOURCES.expired].sort()).toEqual([...GENERATED_STATUSES].sort());
    expect(ARCHIVE_STATUS_SOURCES.pending).toEqual(['failed', 'expired']);
  });
});
