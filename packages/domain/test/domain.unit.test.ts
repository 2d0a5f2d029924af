import { describe, expect, it } from 'vitest';
import {
  ContractMessages,
  addUtcDays,
  archiveKey,
  audioFileName,
  dayExpiresAt,
  formatHour,
  formatTimestamp,
  hourOf,
  hourWindow,
  isBeyondRetention,
  isFutureUtcDay,
  isUnfinishedUtcDay,
  isValidRetentionDays,
  isValidTenantId,
  originalExtension,
  parseArchiveMetadata,
  serializeArchiveMetadata,
  parseUtcDay,
  previousUtcDay,
  startOfUtcDay,
  utcDayOf,
  type UtcDay,
} from '../src/index.js';

const day = (value: string): UtcDay => {
  const parsed = parseUtcDay(value);
  if (!parsed) throw new Error(`test day ${value} is not valid`);
  return parsed;
};

describe('parseUtcDay', () => {
  it.each(['2024-02-29', '2025-01-01', '2025-12-31', '2000-02-29', '1999-12-31'])('accepts the real date %s', (value) => {
    expect(parseUtcDay(value)).toBe(value);
  });

  it.each(['0001-01-01', '0050-06-15', '0099-12-31', '0004-02-29', '0100-01-01'])('accepts the real date %s of the first centuries', (value) => {
    expect(parseUtcDay(value)).toBe(value);
  });

  it.each([
    '0000-01-01',
    '0001-02-29',
    '0100-02-29',
    '2025-02-29',
    '1900-02-29',
    '2025-13-01',
    '2025-00-10',
    '2025-04-31',
    '2025-01-00',
    '2025-1-1',
    '',
    ' 2025-01-01',
    '2025-01-01 ',
    '2025-01-01T00:00',
    '2025/01/01',
    '20250101',
    '２０２５-01-01',
    '2025-01-01\n',
    'yesterday',
  ])('refuses %j', (value) => {
    expect(parseUtcDay(value)).toBeNull();
  });
});

describe('day arithmetic against a given now', () => {
  const now = new Date('2025-12-13T00:15:00.000Z');

  it('takes the previous UTC day for the nightly run', () => {
    expect(previousUtcDay(now)).toBe('2025-12-12');
    expect(previousUtcDay(new Date('2025-03-01T00:00:00.000Z'))).toBe('2025-02-28');
    expect(previousUtcDay(new Date('2024-03-01T23:59:59.999Z'))).toBe('2024-02-29');
  });

  it('calls only days after today future; today is unfinished but not future', () => {
    expect(isFutureUtcDay(day('2025-12-14'), now)).toBe(true);
    expect(isFutureUtcDay(day('2025-12-13'), now)).toBe(false);
    expect(isUnfinishedUtcDay(day('2025-12-13'), now)).toBe(true);
    expect(isUnfinishedUtcDay(day('2025-12-12'), now)).toBe(false);
  });

  it('adds days across months and years', () => {
    expect(addUtcDays(day('2025-12-31'), 1)).toBe('2026-01-01');
    expect(addUtcDays(day('2024-03-01'), -1)).toBe('2024-02-29');
  });

  it('keeps years 0001-0099 as they are instead of moving them to the 1900s', () => {
    expect(addUtcDays(day('0099-12-31'), 1)).toBe('0100-01-01');
    expect(addUtcDays(day('0004-03-01'), -1)).toBe('0004-02-29');
    expect(addUtcDays(day('0050-06-15'), 0)).toBe('0050-06-15');
    expect(utcDayOf(new Date('0050-06-15T12:00:00.000Z'))).toBe('0050-06-15');
    expect(startOfUtcDay(day('0050-06-15')).toISOString()).toBe('0050-06-15T00:00:00.000Z');
    expect(hourWindow(day('0001-01-01'), 23).end.toISOString()).toBe('0001-01-02T00:00:00.000Z');
    expect(isFutureUtcDay(day('0099-12-31'), now)).toBe(false);
    expect(isBeyondRetention({ day: day('0001-01-01'), generatedAt: null, retentionDays: 7, now })).toBe(true);
  });
});

describe('hour windows', () => {
  it('is half-open: 13:59:59.999 is hour 13, 14:00:00.000 is hour 14', () => {
    const window = hourWindow(day('2025-12-12'), 14);
    expect(window.start.toISOString()).toBe('2025-12-12T14:00:00.000Z');
    expect(window.end.toISOString()).toBe('2025-12-12T15:00:00.000Z');
    expect(hourOf(new Date('2025-12-12T13:59:59.999Z'))).toBe(13);
    expect(hourOf(new Date('2025-12-12T14:00:00.000Z'))).toBe(14);
    const inside = (iso: string) => {
      const t = new Date(iso).getTime();
      return t >= window.start.getTime() && t < window.end.getTime();
    };
    expect(inside('2025-12-12T13:59:59.999Z')).toBe(false);
    expect(inside('2025-12-12T14:00:00.000Z')).toBe(true);
    expect(inside('2025-12-12T14:59:59.999Z')).toBe(true);
    expect(inside('2025-12-12T15:00:00.000Z')).toBe(false);
  });

  it('ends hour 23 at midnight of the next day', () => {
    expect(hourWindow(day('2025-12-31'), 23).end.toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it('formats hours with two digits and refuses others', () => {
    expect(formatHour(0)).toBe('00');
    expect(formatHour(9)).toBe('09');
    expect(formatHour(23)).toBe('23');
    expect(() => formatHour(24)).toThrow(RangeError);
    expect(() => formatHour(1.5)).toThrow(RangeError);
  });
});

describe('archive layout', () => {
  it('builds the contract key', () => {
    expect(archiveKey('acme', day('2025-12-12'), 7)).toBe('acme/daily-conversation-audio-recordings/2025/12/12/07.zip');
  });

  it('names entries by conversation, session, message and type', () => {
    const name = audioFileName(789, 'agent_tts', 'opus');
    expect(name).toBe('message_789_agent_tts.opus');
  });

  it('keeps a safe original extension', () => {
    expect(originalExtension('a/b/c.WAV')).toBe('wav');
    expect(originalExtension('a/b/noext')).toBe('bin');
    expect(originalExtension('a/b/.hidden')).toBe('bin');
    expect(originalExtension('a/b/c.we ird')).toBe('bin');
  });

  it('writes message ids as exact JSON numbers and reads them back exactly', () => {
    const file = {
      fileName: 'f',
      originalPath: 'p',
      type: 't',
      timestamp: 'x',
      originalSizeBytes: 1,
      status: 'converted' as const,
      path: 'c/s/f',
      sha256: 'ab'.repeat(32),
      originalSha256: 'cd'.repeat(32),
    };
    const text = serializeArchiveMetadata({
      generatedAt: 'g',
      utcDay: 'd',
      hour: '01',
      revision: 1,
      totalSessions: 1,
      totalFiles: 2,
      sessions: [
        {
          externalConversationId: 'c',
          sessionId: 's',
          files: [
            { ...file, messageId: '9223372036854775807' },
            { ...file, messageId: '42' },
          ],
        },
      ],
    });
    expect(text).toMatch(/"messageId": 9223372036854775807\s/);
    expect(text).toMatch(/"messageId": 42\s/);
    // A plain JSON parser reads it as a number, rounded to the nearest double: 2^63.
    expect((JSON.parse(text) as { sessions: Array<{ files: Array<{ messageId: number }> }> }).sessions[0]?.files[0]?.messageId).toBe(2 ** 63);
    expect(parseArchiveMetadata(text).sessions[0]?.files.map((f) => f.messageId)).toEqual(['9223372036854775807', '42']);
  });

  it('formats timestamps without milliseconds', () => {
    expect(formatTimestamp(new Date('2025-12-13T02:15:32.123Z'))).toBe('2025-12-13T02:15:32Z');
  });
});

describe('tenants and retention', () => {
  it('accepts safe tenant ids only', () => {
    expect(isValidTenantId('acme-1_b')).toBe(true);
    for (const bad of ['', '-acme', 'a/b', 'a:b', 'a b', 'x'.repeat(65), '../etc']) expect(isValidTenantId(bad)).toBe(false);
  });

  it('allows retention of 1 to 7 whole days', () => {
    expect([0, 1, 7, 8, 3.5, '3'].map(isValidRetentionDays)).toEqual([false, true, true, false, false, false]);
  });

  it('expires a generated day at generatedAt + retention, inclusive', () => {
    const generatedAt = new Date('2025-12-13T02:15:32.000Z');
    expect(dayExpiresAt(generatedAt, 3).toISOString()).toBe('2025-12-16T02:15:32.000Z');
    const base = { day: day('2025-12-12'), generatedAt, retentionDays: 3 };
    expect(isBeyondRetention({ ...base, now: new Date('2025-12-16T02:15:31.999Z') })).toBe(false);
    expect(isBeyondRetention({ ...base, now: new Date('2025-12-16T02:15:32.000Z') })).toBe(true);
  });

  it('counts retention from generatedAt’s whole second, the instant the API shows', () => {
    const generatedAt = new Date('2025-12-13T02:15:32.700Z');
    expect(dayExpiresAt(generatedAt, 3).toISOString()).toBe('2025-12-16T02:15:32.000Z');
    const base = { day: day('2025-12-12'), generatedAt, retentionDays: 3 };
    expect(isBeyondRetention({ ...base, now: new Date('2025-12-16T02:15:31.999Z') })).toBe(false);
    expect(isBeyondRetention({ ...base, now: new Date('2025-12-16T02:15:32.200Z') })).toBe(true);
  });

  it('judges a never generated day by today - retention', () => {
    const now = new Date('2025-12-16T10:00:00.000Z');
    expect(isBeyondRetention({ day: day('2025-12-13'), generatedAt: null, retentionDays: 3, now })).toBe(false);
    expect(isBeyondRetention({ day: day('2025-12-12'), generatedAt: null, retentionDays: 3, now })).toBe(true);
  });

  it('keeps the contract messages exact', () => {
    expect(ContractMessages.invalidDay).toBe("Invalid date format for 'utcDay'. Please use the format YYYY-MM-DD.");
    expect(ContractMessages.rateLimited).toBe('Download limit exceeded. Please try again later.');
  });
});
