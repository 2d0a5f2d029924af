import type { HourArchive } from '@dcar/archives';
import { archiveKey, parseUtcDay } from '@dcar/domain';
import { describe, expect, it } from 'vitest';
import { buildDailyReport, summariseDay } from '../src/daily-report.js';

const DAY = parseUtcDay('2025-12-12')!;
const TENANT = 'acme';

function row(hour: number, overrides: Partial<HourArchive> = {}): HourArchive {
  return {
    hour,
    status: 'available',
    sessionCount: 2,
    fileCount: 5,
    sizeBytes: 1000,
    objectKey: archiveKey(TENANT, DAY, hour),
    sha256: 'ab'.repeat(32),
    generatedAt: new Date('2025-12-13T01:00:00Z'),
    ...overrides,
  };
}

describe('the daily report', () => {
  const hours = [
    row(0),
    row(1, { generatedAt: new Date('2025-12-13T02:30:00Z'), sizeBytes: 500 }),
    row(2, { status: 'no_data', objectKey: null, sha256: null, sessionCount: 0, fileCount: 0, sizeBytes: 0 }),
    row(3, { status: 'failed', objectKey: null, sha256: null }),
    row(4, { objectKey: 'other-tenant/daily-conversation-audio-recordings/2025/12/12/04.zip' }),
    row(5, { status: 'expired' }),
  ];

  it('has 24 links: available ones signed with totals, a key outside the tenant reported failed and never signed', () => {
    const mismatches: Array<[number, string | null]> = [];
    const signed: string[] = [];
    const report = buildDailyReport({
      tenantId: TENANT,
      day: DAY,
      hours,
      retentionDays: 7,
      sign: (key) => {
        signed.push(key);
        return `https://files.example.com/${key}?signed`;
      },
      onKeyMismatch: (hour, key) => mismatches.push([hour, key]),
    });
    expect(report.links).toHaveLength(24);
    expect(report.links.map((link) => link.status).slice(0, 7)).toEqual(['available', 'available', 'no_data', 'failed', 'failed', 'pending', 'pending']);
    expect(signed).toEqual([archiveKey(TENANT, DAY, 0), archiveKey(TENANT, DAY, 1)]);
    expect(mismatches).toEqual([[4, 'other-tenant/daily-conversation-audio-recordings/2025/12/12/04.zip']]);
    expect(report.links[4]).toEqual({ hour: '04', url: null, sha256: null, sessionCount: 0, fileCount: 0, sizeBytes: 0, status: 'failed' });
    expect(report).toMatchObject({ date: '2025-12-12', totalSessions: 4, totalFiles: 10, totalSizeBytes: 1500, retentionDays: 7 });
    // The day's generation time is its latest hour's; it expires retentionDays later.
    expect(report.generatedAt).toBe('2025-12-13T02:30:00Z');
    expect(report.expiresAt).toBe('2025-12-20T02:30:00Z');
  });

  it('counts the same hours and totals in the day list, without links', () => {
    const summary = summariseDay({ tenantId: TENANT, day: DAY, hours, retentionDays: 7, onKeyMismatch: () => undefined });
    expect(summary).toMatchObject({
      date: '2025-12-12',
      hours: { available: 2, no_data: 1, failed: 2, pending: 19 },
      totalSessions: 4,
      totalFiles: 10,
      totalSizeBytes: 1500,
    });
  });

  it('has no times while no hour has a result', () => {
    const report = buildDailyReport({ tenantId: TENANT, day: DAY, hours: [], retentionDays: 3, sign: () => 'never', onKeyMismatch: () => undefined });
    expect([report.generatedAt, report.expiresAt, report.totalFiles]).toEqual([null, null, 0]);
    expect(report.links.every((link) => link.status === 'pending')).toBe(true);
  });
});
