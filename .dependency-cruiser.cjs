// The import rules of docs/architecture.md, checked by `pnpm lint:deps` (first step of `pnpm test`,
// so CI runs it). Workspace packages resolve to their source (pnpm's symlinks and the `@dcar/source`
// export condition), so the rules are written on repository paths.

/** What any package's tests may use besides the package's own imports: @dcar/testing and packages' test fixtures. */
const TEST_SUPPORT = ['^packages/testing/', '^packages/[^/]+/test/'];

/** packages/<name> may import only the workspace packages in `allowed` (and itself); its tests also TEST_SUPPORT. */
function onlyImports(name, allowed) {
  const permitted = [name, ...allowed].map((pkg) => `^packages/${pkg}/`);
  const comment = `packages/${name} may import ${allowed.length ? `only ${allowed.join(', ')}` : 'no workspace package'} (docs/architecture.md)`;
  return [
    {
      name: `${name}-imports`,
      comment,
      severity: 'error',
      from: { path: `^packages/${name}/src/` },
      to: { path: '^(packages|services)/', pathNot: permitted },
    },
    {
      name: `${name}-test-imports`,
      comment,
      severity: 'error',
      from: { path: `^packages/${name}/test/` },
      to: { path: '^(packages|services)/', pathNot: [...permitted, ...TEST_SUPPORT] },
    },
  ];
}

module.exports = {
  forbidden: [
    ...onlyImports('domain', []),
    ...onlyImports('platform', ['domain']),
    ...onlyImports('archives', ['domain', 'platform']),
    ...onlyImports('host', ['domain', 'platform']),
    ...onlyImports('api-schemas', ['domain']),
    ...onlyImports('testing', ['domain', 'platform']),
    ...onlyImports('webhooks', ['domain', 'platform', 'host']),
    ...onlyImports('runs', ['domain', 'platform', 'archives', 'host', 'webhooks']),
    {
      name: 'services-are-independent',
      comment: 'a service never imports another service (docs/architecture.md)',
      severity: 'error',
      from: { path: '^services/([^/]+)/' },
      to: { path: '^services/', pathNot: '^services/$1/' },
    },
    {
      name: 'packages-never-import-services',
      comment: 'no package, the demo and testing included, imports a service: the demo drives them as processes',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^services/' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles, within a package or across packages',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every import resolves: a rule on paths cannot check an import it cannot find',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // dist/ is the compiled copy of src/: checking src is enough.
    exclude: { path: '(^|/)node_modules/|^\\.data/|(^|/)dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      // @dcar/source: workspace packages export their TypeScript source under it (dist/ by default).
      conditionNames: ['@dcar/source', 'import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.d.ts', '.json'],
    },
  },
};
