import { defineConfig } from 'vitest/config';

// Tests run the TypeScript source of workspace packages (their `@dcar/source` export), never a
// possibly stale dist/. The other two are Vitest's own defaults for Node.
const conditions = ['@dcar/source', 'node', 'development|production'];

export default defineConfig({
  ssr: { resolve: { conditions } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Real ffmpeg, PostgreSQL, Redis and S3: slower than unit tests, isolated per file.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
