import { REPOSITORY_ROOT, sourceCommand, waitFor } from '@dcar/testing';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('./fixtures/start-interrupted.ts', import.meta.url));

// Seen in CI: a scheduler whose Redis froze while it was still placing its schedules got SIGTERM;
// closing the connection rejected the wait, and it exited 1 with "could not start" instead of 0.
it('a start interrupted by SIGTERM ends with the shutdown’s exit code 0, not a start failure', async () => {
  const { command, args } = sourceCommand(FIXTURE);
  const child = spawn(command, args, { cwd: REPOSITORY_ROOT, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  await waitFor(() => output.includes('waiting for the dependency') || undefined, { what: 'the fixture to wait on its dependency', timeoutMs: 30_000 });

  child.kill('SIGTERM');
  const code = await exited;
  expect(code, output).toBe(0);
  expect(output).toContain('"msg":"fixture stopped before it started"');
  expect(output).toContain('"msg":"shut down"');
  expect(output).not.toContain('could not start');
  expect(output).not.toContain('fixture started');
}, 60_000);
