/**
 * This run's own tenants: new ids each run (`demo-acme-20251215-101530`), so a demo run again within
 * the hour meets neither the earlier run's used-up download limit nor its archives.
 */
export function demoTenants(now: Date): Array<{ id: string; name: string; retentionDays: number; seed: number }> {
  const stamp = now.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  return [
    { id: `demo-acme-${stamp}`, name: `Acme Telecom (demo ${stamp})`, retentionDays: 3, seed: 1 },
    { id: `demo-globex-${stamp}`, name: `Globex Insurance (demo ${stamp})`, retentionDays: 7, seed: 2 },
  ];
}

/** A value as one shell word: left as it is when it holds only safe characters, else single-quoted. */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

export interface NextStepsInput {
  baseUrl: string;
  day: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** The token the demo obtained for the tenant, and when it expires. */
  token: string;
  tokenExpiresAt: Date;
  hostClientId: string;
  /** The host's password when it is the development default; null when it was set (then it is not printed). */
  developmentHostSecret: string | null;
  /**
   * Where `pnpm admin` finds this run's database and queues: the demo's DATABASE_URL, REDIS_URL and
   * REDIS_PREFIX when they were set (run with `DATABASE_URL=… pnpm demo`, a pasted admin line would
   * otherwise go to the default database and queues, where the demo's tenant does not exist).
   */
  adminEnvironment?: Record<string, string>;
}

/** The admin variables of the demo's environment that the admin line needs (a URL with a password is not printed). */
export function adminEnvironment(env: Record<string, string | undefined>): { variables: Record<string, string>; hidden: string[] } {
  const variables: Record<string, string> = {};
  const hidden: string[] = [];
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'REDIS_PREFIX'] as const) {
    const value = env[name];
    if (!value) continue;
    if (name !== 'REDIS_PREFIX' && URL.canParse(value) && new URL(value).password !== '') hidden.push(name);
    else variables[name] = value;
  }
  return { variables, hidden };
}

/**
 * What the demo prints to try next: every line is a shell command or a `#` comment, with this run's
 * own values (the demo tenant's credentials and token, the API's address), so it can be pasted as is.
 */
export function nextSteps(input: NextStepsInput): string[] {
  const api = input.baseUrl;
  const daily = `${api}/api/external/conversations/daily-audio-recordings`;
  const bearer = shellWord(`Authorization: Bearer ${input.token}`);
  const password = input.developmentHostSecret === null ? 'the HOST_CLIENT_SECRET you set' : `password ${input.developmentHostSecret}`;
  const until = input.tokenExpiresAt.toISOString().slice(11, 16);
  return [
    `# Try next, while the services run. Every line below can be pasted into a shell as it is.`,
    `# A token for ${input.tenantId}'s application (OAuth2 client credentials):`,
    `curl -s -X POST ${api}/connect/token -d grant_type=client_credentials -d client_id=${shellWord(input.clientId)} -d client_secret=${shellWord(input.clientSecret)}`,
    `# Its day ${input.day}, with the token the demo got (valid until ${until} UTC):`,
    `curl -s ${daily}/${input.day} -H ${bearer}`,
    `# Its days within retention, each with its hours per status:`,
    `curl -s ${daily} -H ${bearer}`,
    `# Download every available hour of the day and check each ZIP's SHA-256 (docs/examples/client.ts):`,
    `DCAR_API_URL=${api} DCAR_CLIENT_ID=${shellWord(input.clientId)} DCAR_CLIENT_SECRET=${shellWord(input.clientSecret)} DCAR_OUT=.data/demo/recordings pnpm exec node docs/examples/client.ts ${input.day}`,
    `# Regenerate the day through the run engine and wait for it:`,
    `${Object.entries(input.adminEnvironment ?? {})
      .map(([name, value]) => `${name}=${shellWord(value)} `)
      .join('')}pnpm admin run ${input.day} --tenant ${input.tenantId} --force --wait`,
    `# In a browser: Bull Board (user ${input.hostClientId}, ${password}) and the API's documentation:`,
    `#   ${api}/admin/queues`,
    `#   ${api}/docs`,
  ];
}
