import { defineConfig } from 'vitest/config';

// Tests run the TypeScript source of workspace packages (their `@dcar/source` export), never a
// possibly stale dist/. The other two are Vitest's own defaults for Node.
const conditions = ['@dcar/source', 'node', 'development|production'];

const ALL_TESTS = ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'test/**/*.test.ts'];
// The unit tier (`pnpm test:unit`): pure modules only, no PostgreSQL, Redis, store or ffmpeg.
const UNIT_TESTS = ['packages/*/test/**/*.unit.test.ts', 'services/*/test/**/*.unit.test.ts', 'test/**/*.unit.test.ts'];

export default defineConfig({
  ssr: { resolve: { conditions } },
  test: {
    reporters: ['default'],
    // Vitest's default on 2 cores is one file at a time, but most integration tests wait on other
    // processes (PostgreSQL, Redis, ffmpeg, spawned services): three files at once use both cores.
    maxWorkers: 3,
    // `vitest run` runs both projects, each file once; `--project unit` runs the unit tier alone.
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: UNIT_TESTS, testTimeout: 10_000, pool: 'threads' },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ALL_TESTS,
          exclude: UNIT_TESTS,
          // Real ffmpeg, PostgreSQL, Redis and S3: slower than unit tests, isolated per file.
          testTimeout: 60_000,
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
    ],
  },
});
