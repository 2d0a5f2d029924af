import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { previousUtcDay } from '@dcar/domain';
import { createTestEnvironment, type TestEnvironment } from '@dcar/testing';
import { generateRealisticDay, seedConversationAudio } from '@dcar/testing/seed';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPOSITORY_ROOT } from '@dcar/testing';
import { freePort, startService, waitUntilHealthy, type ServiceName, type ServiceProcess } from '../src/processes.js';

// Every shell command of README.md and docs/*.md, run in order as a new user pastes them after the
// README's set-up: one bash session (variables carry over from one command to the next), against a
// throwaway database, Redis prefix and S3 store. Commands that keep running or need more than this
// machine has are skipped with their reason; where one starts a service, the test starts it instead.

const DOCUMENTS = ['README.md', 'docs/api.md', 'docs/operations.md', 'docs/worker.md', 'docs/scheduler.md', 'docs/architecture.md'];

interface Skip {
  pattern: RegExp;
  reason: string;
  /** A service the command would start: the test starts it instead, with the test environment. */
  standsIn?: ServiceName;
}

const SKIPS: Skip[] = [
  { pattern: /^bash infra\/setup-dev\.sh\b/, reason: 'installs system packages; CI runs it before the tests' },
  { pattern: /^pnpm demo\b/, reason: 'long-running: a whole demo of its own, and it waits for Ctrl-C in a terminal' },
  { pattern: /^pnpm test\b/, reason: 'the test suite itself' },
  { pattern: /^pnpm bench\b/, reason: 'CPU-heavy benchmarks for minutes' },
  { pattern: /^pnpm local:s3\b/, reason: 'long-running: the test has its own S3 store' },
  { pattern: /^pnpm start:api\b/, reason: 'long-running: the test starts the api in the background', standsIn: 'api' },
  { pattern: /^pnpm start:scheduler\b/, reason: 'long-running: the test starts a scheduler in the background', standsIn: 'scheduler' },
  { pattern: /^pnpm start:worker\b/, reason: 'long-running: the test starts a worker in the background', standsIn: 'worker' },
  { pattern: /\bdocker compose\b|^docker\b/, reason: 'needs Docker, which this machine does not run' },
];

interface Command {
  document: string;
  line: number;
  text: string;
}

/** The commands of a Markdown file's ```sh blocks, in order; a line ending in `\` continues on the next. */
function shellCommands(document: string, markdown: string): Command[] {
  const commands: Command[] = [];
  let inBlock = false;
  let pending: Command | null = null;
  markdown.split('\n').forEach((raw, index) => {
    if (/^```(sh|bash)\s*$/.test(raw)) inBlock = true;
    else if (inBlock && /^```\s*$/.test(raw)) inBlock = false;
    else if (inBlock) {
      // Continuation lines stay as written (backslash-newline): bash joins them itself.
      const continued = raw.endsWith('\\');
      if (pending) pending.text += `\n${raw}`;
      else if (raw.trim() && !raw.trim().startsWith('#')) pending = { document, line: index + 1, text: raw };
      if (!continued && pending) {
        commands.push(pending);
        pending = null;
      }
    }
  });
  return commands;
}

/** One bash process for the whole walk-through, fed one command at a time; each answers its exit code. */
class ShellSession {
  private output = '';
  private readonly shell: ChildProcessWithoutNullStreams;

  constructor(cwd: string, env: NodeJS.ProcessEnv) {
    this.shell = spawn('bash', ['--noprofile', '--norc'], { cwd, env });
    this.shell.stdout.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
    this.shell.stderr.setEncoding('utf8').on('data', (chunk: string) => (this.output += chunk));
  }

  async run(command: string, timeoutMs: number): Promise<{ exitCode: number; output: string }> {
    const marker = `__dcar_done_${Math.random().toString(36).slice(2)}__`;
    this.output = '';
    this.shell.stdin.write(`${command}\nprintf '\\n${marker}%s\\n' "$?"\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = new RegExp(`\\n${marker}(\\d+)\\n`).exec(this.output);
      if (match) return { exitCode: Number(match[1]), output: this.output.slice(0, match.index) };
      if (Date.now() > deadline) return { exitCode: -1, output: `${this.output}\n(no end within ${timeoutMs} ms)` };
      if (this.shell.exitCode !== null) return { exitCode: this.shell.exitCode, output: `${this.output}\n(the shell exited)` };
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  close(): void {
    this.shell.stdin.end();
    this.shell.kill();
  }
}

const yesterday = previousUtcDay(new Date());
let environment: TestEnvironment;
let session: ShellSession;
let scratch: string;
let sessionEnv: Record<string, string>;
const services: ServiceProcess[] = [];
const started = new Set<ServiceName>();

const commands = (
  await Promise.all(DOCUMENTS.map(async (document) => shellCommands(document, await readFile(join(REPOSITORY_ROOT, document), 'utf8'))))
).flat();

beforeAll(async () => {
  environment = await createTestEnvironment();
  scratch = await mkdtemp(join(tmpdir(), 'dcar-docs-'));
  const apiPort = await freePort();
  sessionEnv = {
    ...environment.env,
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    LOG_LEVEL: 'warn',
    API_PORT: String(apiPort),
    // The docs' defaults name 127.0.0.1:3000 and ./recordings; here the API listens elsewhere.
    DCAR_API_URL: `http://127.0.0.1:${apiPort}`,
    DCAR_OUT: join(scratch, 'recordings'),
  };
  session = new ShellSession(REPOSITORY_ROOT, sessionEnv);
  // The recording platform's part: yesterday's audio of the docs' tenant, in two hours.
  const hours = generateRealisticDay({
    utcDay: yesterday,
    seed: 5,
    conversations: 1,
    messagesPerSession: [2, 3],
    clipSeconds: [2, 3],
    emptyHours: Array.from({ length: 24 }, (_, h) => h).filter((h) => h !== 6 && h !== 15),
  });
  const { knex, s3, config } = environment;
  await seedConversationAudio({ knex, s3, bucket: config.s3.sourceBucket, tenantId: 'acme', rows: [...hours.values()].flat() });
}, 120_000);

afterAll(async () => {
  session?.close();
  await Promise.all(services.map((service) => service.stop(10_000)));
  await environment?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Starts a service as the skipped `pnpm start:<service>` would, once, and waits until it answers. */
async function standIn(service: ServiceName): Promise<void> {
  if (started.has(service)) return;
  started.add(service);
  const metricsPort = await freePort();
  const env = { ...sessionEnv, SCHEDULER_METRICS_PORT: String(metricsPort), WORKER_METRICS_PORT: String(metricsPort) };
  const process = startService({ service, env, logDirectory: join(scratch, 'logs') });
  services.push(process);
  await waitUntilHealthy(process, service === 'api' ? `${sessionEnv.DCAR_API_URL}/healthz` : `http://127.0.0.1:${metricsPort}/healthz`, 120_000);
}

describe('the shell commands of README.md and docs/*.md', () => {
  it('are found, with the README’s walk-through among them', () => {
    expect(commands.filter((c) => c.document === 'README.md').map((c) => c.text)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^pnpm migrate\b/),
        expect.stringMatching(/^pnpm admin run "\$\(date -u -d yesterday \+%F\)" --tenant acme --wait/),
      ]),
    );
    expect(commands.some((c) => /\d{4}-\d{2}-\d{2}/.test(c.text))).toBe(false);
  });

  for (const command of commands) {
    const title = `${command.document}:${command.line}  ${command.text.split('\n')[0]}`;
    const skip = SKIPS.find((s) => s.pattern.test(command.text.trim()));
    if (skip && !skip.standsIn) {
      it.skip(`${title}  (skipped: ${skip.reason})`, () => undefined);
      continue;
    }
    if (skip?.standsIn) {
      const service = skip.standsIn;
      it(`${title}  (${skip.reason})`, () => standIn(service), 150_000);
      continue;
    }
    it(
      title,
      async () => {
        const { exitCode, output } = await session.run(command.text, 240_000);
        expect(exitCode, output).toBe(0);
        if (command.text.includes('docs/examples/client')) expect(output).toMatch(/verified ([1-9]\d*) of \1 available hours/);
      },
      250_000,
    );
  }
});
