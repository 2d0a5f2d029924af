import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { REDACTED_PATHS, createLogger, resolveLogFormat } from '../src/logger.js';

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

describe('createLogger', () => {
  const directory = mkdtempSync(join(tmpdir(), 'dcar-logger-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  function logTo(name: string, options: Omit<Parameters<typeof createLogger>[0], 'fd'>): string {
    const path = join(directory, name);
    const fd = openSync(path, 'w');
    try {
      const logger = createLogger({ ...options, fd });
      logger.info({ tenantId: 'acme' }, 'hello');
      logger.warn('careful');
      logger.flush();
    } finally {
      closeSync(fd);
    }
    return readFileSync(path, 'utf8');
  }

  it('writes JSON lines with level names, the hostname and the replica id', () => {
    const lines = logTo('json.log', { service: 'worker', level: 'info', format: 'json', replicaId: 'worker-2' })
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'info', service: 'worker', hostname: hostname(), replica: 'worker-2', tenantId: 'acme', msg: 'hello' }),
      expect.objectContaining({ level: 'warn', msg: 'careful' }),
    ]);
    expect(lines[0]!.time).toMatch(/^\d{4}-\d{2}-\d{2}T/);
  });

  it('has no replica field without REPLICA_ID, and still the hostname', () => {
    const line = JSON.parse(logTo('plain.log', { service: 'api', level: 'info', format: 'json' }).split('\n')[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'info', hostname: hostname() });
    expect(line).not.toHaveProperty('replica');
  });

  it('writes pino-pretty lines when asked, without colours into a file', () => {
    const text = logTo('pretty.log', { service: 'api', level: 'info', format: 'pretty' });
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO .*hello/);
    expect(lines[0]).toContain('"tenantId":"acme"');
    expect(lines[1]).toMatch(/WARN .*careful/);
    expect(text).not.toContain('\u001b[');
  });

  it('defaults to JSON when the destination is not a terminal', () => {
    const fd = openSync(join(directory, 'auto.log'), 'w');
    try {
      expect(resolveLogFormat(undefined, fd)).toBe('json');
      expect(resolveLogFormat('pretty', fd)).toBe('pretty');
    } finally {
      closeSync(fd);
    }
    expect(JSON.parse(logTo('auto2.log', { service: 'api', level: 'info' }).split('\n')[0]!)).toMatchObject({ msg: 'hello' });
  });
});
