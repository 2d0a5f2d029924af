import { startService, waitFor } from '@dcar/testing';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('./fixtures/start-interrupted.ts', import.meta.url));

// Seen in CI: a scheduler whose Redis froze while it was still placing its schedules got SIGTERM;
// closing the connection rejected the wait, and it exited 1 with "could not start" instead of 0.
it('a start interrupted by SIGTERM ends with the shutdown’s exit code 0, not a start failure', async () => {
  const fixture = startService(FIXTURE, {});
  await waitFor(() => fixture.output().includes('waiting for the dependency') || undefined, {
    what: 'the fixture to wait on its dependency',
    timeoutMs: 30_000,
  });

  const code = await fixture.kill('SIGTERM');
  const output = fixture.output();
  expect(code, output).toBe(0);
  expect(output).toContain('"msg":"fixture stopped before it started"');
  expect(output).toContain('"msg":"shut down"');
  expect(output).not.toContain('could not start');
  expect(output).not.toContain('fixture started');
}, 60_000);
