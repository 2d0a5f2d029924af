import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { REDACTED_PATHS } from '../src/logger.js';

function logLine(fields: Record<string, unknown>): Record<string, unknown> {
  let line = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      line += String(chunk);
      done();
    },
  });
  pino({ redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, sink).info(fields, 'x');
  return JSON.parse(line) as Record<string, unknown>;
}

describe('log redaction', () => {
  it('hides credentials, tokens and presigned links but keeps request paths', () => {
    const line = logLine({
      req: { method: 'GET', url: '/api/external/conversations/daily-audio-recordings/2025-12-12', headers: { authorization: 'Bearer abc' } },
      body: { client_secret: 's3cret', links: [{ hour: '00', url: 'http://store/x?X-Amz-Signature=abc' }] },
      access_token: 'jwt',
    });
    expect(line.req).toEqual({
      method: 'GET',
      url: '/api/external/conversations/daily-audio-recordings/2025-12-12',
      headers: { authorization: '[redacted]' },
    });
    expect(line.body).toEqual({ client_secret: '[redacted]', links: [{ hour: '00', url: '[redacted]' }] });
    expect(line.access_token).toBe('[redacted]');
  });

  it('hides webhook secrets', () => {
    const line = logLine({ secret: 'whsec_abc', body: { url: 'https://hooks.example.com/x', secret: 'whsec_def' }, webhookSecret: 'whsec_ghi' });
    expect(line).toMatchObject({ secret: '[redacted]', body: { url: 'https://hooks.example.com/x', secret: '[redacted]' }, webhookSecret: '[redacted]' });
    expect(JSON.stringify(line)).not.toContain('whsec_');
  });
});
