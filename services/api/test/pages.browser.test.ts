import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createTestEnvironment, freePort, type TestEnvironment } from '@dcar/testing';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedTenant, startTestApi, type TestApi } from './helpers.js';

// The two HTML pages of the API in a real browser (Debian's Chromium): the docs page renders under
// its security headers and its Authorize button fetches a token from /connect/token; Bull Board
// renders behind the host's credentials. Screenshots land in .data/screenshots/ to be looked at.

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = resolve('.data/screenshots');
// What the machine's closed network needs: no background connections, no first-run work.
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let env: TestEnvironment;
let api: TestApi;
let browser: Browser;
let baseUrl: string;

/** Console lines that report a blocked resource: a Content-Security-Policy that is too strict for the page. */
function collectPolicyViolations(page: Page): string[] {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  return violations;
}

describe.skipIf(!existsSync(CHROMIUM))(`the API's pages in Chromium (skipped without ${CHROMIUM}: apt-get install chromium)`, () => {
  beforeAll(async () => {
    env = await createTestEnvironment();
    // The document names the API's own address as its server, and the Authorize button resolves the
    // token URL against it: listen where the configuration says.
    const port = await freePort();
    api = await startTestApi(env, { config: { ...env.config, api: { ...env.config.api, port } } });
    await api.app.listen({ port, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    await mkdir(SCREENSHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await env?.close();
  });

  it('renders /docs, fetches a token with the Authorize button and lists the tenant’s days with it', async () => {
    const client = await seedTenant(env.knex, 'browser');
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const violations = collectPolicyViolations(page);
    await page.goto(`${baseUrl}/docs`);
    await page.getByText('Daily Conversation Audio Recordings API').first().waitFor();
    await page.locator('.opblock').first().waitFor();
    expect(await page.locator('.opblock').count()).toBeGreaterThanOrEqual(15);
    await page.screenshot({ path: join(SCREENSHOTS, 'docs.png') });

    await page.locator('.auth-wrapper .authorize').click();
    await page.locator('input[data-name="clientId"]').fill(client.clientId);
    await page.locator('input[data-name="clientSecret"]').fill(client.clientSecret);
    await page.locator('label[for^="dataservice_external-"]').click();
    const tokenAnswer = page.waitForResponse((response) => response.url() === `${baseUrl}/connect/token`);
    await page.locator('.auth-btn-wrapper .authorize').first().click();
    expect((await tokenAnswer).status()).toBe(200);
    await page.locator('.auth-btn-wrapper button', { hasText: 'Logout' }).first().waitFor();
    await page.locator('.btn-done').first().click();

    const list = page.locator('#operations-external-listDailyAudioRecordingDays');
    await list.locator('.opblock-summary').click();
    await list.getByRole('button', { name: 'Try it out' }).click();
    const listAnswer = page.waitForResponse((response) => response.url().startsWith(`${baseUrl}/api/external/conversations/daily-audio-recordings`));
    await list.getByRole('button', { name: 'Execute' }).click();
    expect((await listAnswer).status()).toBe(200);
    const status = list.locator('.live-responses-table tr.response .response-col_status').first();
    await status.waitFor();
    expect((await status.textContent())?.trim()).toBe('200');
    await list.locator('.live-responses-table').first().scrollIntoViewIfNeeded();

    await page.screenshot({ path: join(SCREENSHOTS, 'docs-try-it-out.png') });
    expect(violations).toEqual([]);
    await page.close();
  }, 60_000);

  it('renders Bull Board at /admin/queues behind the host’s credentials', async () => {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      httpCredentials: { username: env.config.auth.hostClientId, password: env.config.auth.hostClientSecret },
    });
    const page = await context.newPage();
    const violations = collectPolicyViolations(page);
    await page.goto(`${baseUrl}/admin/queues`);
    await page.getByText('archive-hour').first().waitFor();
    await page.getByText('Daily audio archives').first().waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'bull-board.png') });
    // Its fonts come from an outside host, which this machine cannot reach: that is no policy problem.
    expect(violations.filter((line) => !line.includes('fonts.googleapis.com'))).toEqual([]);
    await context.close();
  }, 60_000);
});
