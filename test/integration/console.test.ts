/**
 * The admin console (issue 16) in headless Chromium against the real stack (dev server, PostgreSQL,
 * worker, API serving the console at /) and the fleet simulator's devices:
 *  - a bad key is refused; an admin key signs in (kept in sessionStorage, never in the URL);
 *  - software is uploaded through the page (progress bar; the list shows its SHA-256);
 *  - the New rollout wizard selects the simulator's devices by platform, shows how many, offers no
 *    Use DM where R1 says it does not apply, and previews the planned starts — the chart's bars equal
 *    `POST /api/v1/rollouts/preview` for the same request — then starts the rollout;
 *  - the simulated devices install; the Installation status page shows the jobs in the Installing
 *    table, which empties into the Installed table without a reload; a row opens the job's log;
 *  - pause and resume from the Rollout page (the API confirms each state);
 *  - a viewer key sees no button it may not use;
 *  - on every page: no console error, every form field labelled, text at AA contrast; a screenshot of each page in
 *    test-output/console-*.png.
 * One stack, one browser for the whole file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { createRecordingChannel } from '../../infra/channels/recording';
import { createDmEngine } from '../../omadm/engine';
import { httpRolloutControl, type RolloutControl } from '../../simulator/control';
import { Fleet } from '../../simulator/fleet';
import { ApiClient } from '../../simulator/http';
import { createLimiter } from '../../simulator/pool';
import { launchChromium } from '../helpers/browser';
import { type Stack, startStack } from '../helpers/stack';

const OUT = path.resolve(__dirname, '..', '..', 'test-output');
const ZONE = 'Europe/Berlin';
const DEVICES = 6;
const ALL_DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

let stack: Stack;
let browser: Browser;
let admin: BrowserContext;
let page: Page;
/** Console errors and uncaught exceptions of every signed-in page. */
const consoleErrors: string[] = [];

function watch(p: Page): Page {
  p.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${p.url()}: ${m.text()}`);
  });
  p.on('pageerror', (e) => consoleErrors.push(`${p.url()}: ${e.message}`));
  p.on('dialog', (d) => void d.accept());
  return p;
}

async function shot(p: Page, name: string): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  await p.screenshot({ path: path.join(OUT, `console-${name}.png`), fullPage: true });
}

/** Form fields without a label (label element, aria-label or aria-labelledby). */
async function unlabelled(p: Page): Promise<string[]> {
  return p.evaluate(`[...document.querySelectorAll('input, select, textarea')]
    .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
    .map((el) => el.outerHTML.slice(0, 160))`);
}

/**
 * Text below WCAG AA contrast (4.5:1) against the first opaque background behind it; disabled controls
 * (exempt), SVG and option text are left out.
 */
async function lowContrast(p: Page): Promise<string[]> {
  return p.evaluate(`(() => {
    const parse = (c) => { const m = /rgba?\\(([^)]+)\\)/.exec(c); if (!m) return null; const v = m[1].split(',').map(Number); return { r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1 }; };
    const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
    const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a > 0.5) return c; } return { r: 255, g: 255, b: 255, a: 1 }; };
    const out = []; const seen = new Set();
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walk.nextNode()) {
      const t = walk.currentNode; const el = t.parentElement;
      if (!t.textContent.trim() || !el || seen.has(el)) continue;
      seen.add(el);
      if (el.closest('svg, [disabled], option, noscript, .skip') || el.getClientRects().length === 0) continue;
      const fg = parse(getComputedStyle(el).color); const bg = background(el);
      const a = lum(fg), b = lum(bg); const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5) out.push(el.tagName + ' "' + t.textContent.trim().slice(0, 40) + '" ' + ratio.toFixed(2));
    }
    return out;
  })()`);
}

async function visit(p: Page, hash: string, ready: string | RegExp): Promise<void> {
  await p.evaluate(`window.location.hash = ${JSON.stringify(hash)}`);
  await p.getByRole('heading', { level: 1, name: ready }).first().waitFor();
  expect(await unlabelled(p), `unlabelled fields on ${hash}`).toEqual([]);
  expect(await lowContrast(p), `text below AA contrast on ${hash}`).toEqual([]);
}

async function signIn(p: Page, key: string): Promise<void> {
  await p.goto(stack.baseUrl);
  await p.getByLabel('Admin key').fill(key);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Starts a rollout the way an admin does: the wizard's Start button (the fleet then delivers the pushes). */
function consoleControl(api: ApiClient): RolloutControl {
  const http = httpRolloutControl(api);
  return {
    via: 'console',
    view: http.view,
    jobs: http.jobs,
    async start() {
      await page.getByRole('button', { name: 'Start rollout' }).click();
      await page.waitForURL(/#\/rollouts\/[0-9a-f-]{36}$/);
      return { id: page.url().split('/').pop() as string };
    },
  };
}

beforeAll(async () => {
  [stack, browser] = await Promise.all([
    startStack({
      deps: (db, config) => {
        const push = createRecordingChannel(db);
        return { push, dm: createDmEngine({ db, push, config }) };
      },
    }),
    launchChromium(),
  ]);
  admin = await browser.newContext({ timezoneId: ZONE, viewport: { width: 1400, height: 900 } });
  page = watch(await admin.newPage());
});
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('admin console (headless Chromium, real stack, simulated fleet)', () => {
  const api = () => new ApiClient({ baseUrl: stack.baseUrl, adminKey: stack.adminKey, limiter: createLimiter(8) });
  let fleet: Fleet;
  let rolloutId = '';

  it('refuses a bad key and signs in with a good one (the key stays out of the URL)', async () => {
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    await p.goto(stack.baseUrl);
    expect(await unlabelled(p)).toEqual([]);
    await p.getByLabel('Admin key').fill('dra_not-a-key');
    await p.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => p.getByRole('alert').textContent()).toMatch(/refused: invalid admin key/);
    expect(await p.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    await shot(p, 'sign-in-refused');
    await ctx.close();

    await signIn(page, stack.adminKey);
    expect(page.url()).not.toContain(stack.adminKey);
    expect(await page.evaluate('sessionStorage.length')).toBe(1);
    await page.getByText(`ADMIN_API_KEY`).waitFor();
  });

  it('uploads software with a progress bar; the list shows platforms, size and SHA-256', async () => {
    fleet = new Fleet({
      api: api(),
      control: consoleControl(api()), // the rollout is started in the browser
      devices: DEVICES,
      platforms: ['android'],
      push: 'sms',
      useDm: false,
      shares: { installFails: 1 / DEVICES }, // one device reports a failed install: the retry's material
      timing: { syncDelayMs: 4_000, reactionMs: 400, pollIntervalMs: 1_000, offlineMs: 1_000 },
      timeoutMs: 90_000,
      seed: 16,
    });
    await fleet.register();

    const bytes = randomBytes(3 * 1024 * 1024);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const version = `2.${fleet.runTag}`;
    await visit(page, '#/software', 'Software');
    await page.getByLabel('Name').fill('Simulated DME Client');
    await page.getByLabel('Version').fill(version);
    await page.getByLabel('Kind').selectOption('dme-client');
    await page.getByRole('checkbox', { name: 'android' }).check();
    await page.getByLabel(/^Files/).setInputFiles({ name: 'client.apk', mimeType: 'application/octet-stream', buffer: bytes });
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('progressbar', { name: 'Upload progress' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Uploaded' }).waitFor();
    expect(await page.getByRole('progressbar', { name: 'Upload progress' }).getAttribute('aria-valuenow')).toBe('100');
    const row = page.locator('tr', { hasText: version });
    await row.waitFor();
    await expect.poll(() => row.textContent()).toContain(sha256);
    expect(await row.textContent()).toContain('android');
    expect(await row.textContent()).toContain('3.0 MiB');
    const softwareId = (await row.getAttribute('data-software-id')) as string;
    fleet.software = { id: softwareId, name: 'Simulated DME Client', version, kind: 'dme-client', sha256, size: bytes.length };
    await shot(page, 'software');
  });

  it('creates a rollout in the wizard; its preview chart equals the API preview', async () => {
    // a Symbian DME client, where Use DM applies (R1)
    const form = new FormData();
    for (const [k, v] of Object.entries({ name: 'DME Client', version: '9.1', kind: 'dme-client', platforms: 'symbian' }))
      form.append(k, v);
    form.append('file', new Blob([Buffer.from('sis bytes')]), 'client.sisx');
    const up = await fetch(`${stack.baseUrl}/api/v1/software`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminKey}` },
      body: form,
    });
    const symbianClient = ((await up.json()) as { id: string }).id;
    await visit(page, '#/rollouts/new', 'New rollout');
    await page.getByLabel('Software', { exact: true }).selectOption(symbianClient);
    await page.getByRole('checkbox', { name: /^Use DM/ }).waitFor();
    await page.getByLabel('Platform', { exact: true }).selectOption('android');
    await page.getByText('Use DM does not apply').waitFor();
    expect(await page.getByRole('checkbox', { name: /^Use DM/ }).count()).toBe(0);
    await page.getByLabel('Platform', { exact: true }).selectOption('');

    // DME's defaults
    expect(await page.getByLabel('Installations per day').inputValue()).toBe('100');
    expect(await page.getByLabel('Window start').inputValue()).toBe('09:00');
    expect(await page.getByLabel(/^Window end/).inputValue()).toBe('17:00');
    expect(await page.getByLabel('Time zone').inputValue()).toBe(ZONE);
    for (const d of ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'])
      expect(await page.getByRole('checkbox', { name: d }).isChecked()).toBe(true);
    expect(await page.getByRole('checkbox', { name: 'Sat' }).isChecked()).toBe(false);
    expect(await page.getByRole('radio', { name: 'SMS push (recommended)' }).isChecked()).toBe(true);
    const today = await page.getByLabel('Start date').inputValue();

    await page.getByLabel('Software', { exact: true }).selectOption(fleet.software!.id);
    await page.getByLabel('Platform', { exact: true }).selectOption('android');
    await expect.poll(() => page.getByTestId('selected-count').textContent()).toBe(`${DEVICES} devices selected`);
    // R1: a DME client goes by DM only to Symbian / Windows Mobile: no Use DM for Android
    expect(await page.getByRole('checkbox', { name: /Use DM/ }).count()).toBe(0);
    await page.getByText('Use DM does not apply').waitFor();

    // a quota of 4 a day over the whole day, every day: 4 + 2 over two days
    await page.getByLabel('Installations per day').fill('4');
    await page.getByRole('checkbox', { name: 'Sat' }).check();
    await page.getByRole('checkbox', { name: 'Sun' }).check();
    await page.getByLabel('Window start').fill('00:00');
    await page.getByLabel(/^Window end/).fill('24:00');
    const schedule = (perDay: number | 'unlimited') => ({
      perDay,
      startDate: today,
      weekdays: ALL_DAYS,
      window: { start: '00:00', end: '24:00' },
      timeZone: ZONE,
    });
    const request = (perDay: number | 'unlimited') => ({
      softwareId: fleet.software!.id,
      devices: { filter: { platform: 'android' } },
      options: { useDm: false, push: 'sms' },
      schedule: schedule(perDay),
    });
    const bars = async (id: string) =>
      page
        .getByTestId(id)
        .locator('.chart-bar')
        .evaluateAll((els) =>
          els.map((e) => ({ date: e.getAttribute('data-label'), count: Number(e.getAttribute('data-value')) })),
        );
    const expected = await stack.api('POST', '/api/v1/rollouts/preview', request(4));
    expect(expected.status).toBe(200);
    expect(expected.body.days.length).toBe(2);
    await expect.poll(() => bars('preview-per-day')).toEqual(expected.body.days);
    const summary = await page.getByTestId('preview-summary').textContent();
    expect(summary).toContain(`${DEVICES} devices on 2 days`);
    await shot(page, 'new-rollout-preview');

    // unlimited: every device at once (S6) — the preview says one day, as the API does
    await page.getByRole('checkbox', { name: /Unlimited/ }).check();
    const unlimited = await stack.api('POST', '/api/v1/rollouts/preview', request('unlimited'));
    await expect.poll(() => bars('preview-per-day')).toEqual(unlimited.body.days);
    const acrossWindow = await bars('preview-window');
    expect(acrossWindow.reduce((n, b) => n + b.count, 0)).toBe(unlimited.body.days[0].count);

    // start it from the page; the fleet delivers the SMS and the devices install
    rolloutId = (await fleet.startRollout()).id;
    const stored = await stack.api('GET', `/api/v1/rollouts/${rolloutId}`);
    expect(stored.body.total).toBe(DEVICES);
    expect(stored.body.schedule).toMatchObject({ perDay: 'unlimited', timeZone: ZONE, weekdays: ALL_DAYS });
    expect(stored.body.options).toMatchObject({ useDm: false, push: 'sms' });
  });

  it('the devices install: the Installing table empties into the Installed table without a reload', async () => {
    await visit(page, `#/status?rollout=${rolloutId}`, 'Installation status');
    await page.evaluate('window.__sameDocument = true');
    const installing = page.getByTestId('installing-table').locator('tbody tr');
    const installed = page.getByTestId('installed-table').locator('tbody tr');
    await installing.first().waitFor({ timeout: 20_000 });
    await shot(page, 'installation-status-installing');
    const done = fleet.waitUntilFinal();
    await page.getByTestId('installing-empty').waitFor({ timeout: 90_000 });
    await expect.poll(() => installed.count(), { timeout: 10_000 }).toBe(DEVICES);
    expect(await done).toBe(true);
    await fleet.stop();
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    const statuses = await page.getByTestId('installed-table').locator('tbody tr .badge').allTextContents();
    // the seed's strings (en dash)
    expect(statuses.sort()).toEqual([...Array(DEVICES - 1).fill(STATUS.downloadedVerified), STATUS.installationFailed].sort());
    await shot(page, 'installation-status-installed');

    // a row's log: by keyboard (the row's device button, Enter; Escape closes), then by a click on the row
    await page
      .getByTestId('installed-table')
      .getByRole('button', { name: /^Log of / })
      .first()
      .focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.getByText('install started by the rollout').waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await page.getByTestId('installed-table').getByText(STATUS.downloadedVerified).first().click();
    await dialog.getByText(`→ ${STATUS.downloadedVerified}`).waitFor();
    await shot(page, 'job-log');
    await dialog.getByRole('button', { name: 'Close' }).click();

    // the rollout's own page: completed, counts per status, the per-hour chart, the Temporal UI link
    await visit(page, `#/rollouts/${rolloutId}`, /^Rollout\b(?!s)/);
    await page.locator('h1 .badge', { hasText: 'completed' }).waitFor({ timeout: 15_000 });
    const counts = page.getByRole('table', { name: 'Counts per status' });
    await expect.poll(() => counts.textContent()).toContain(`${STATUS.downloadedVerified}${DEVICES - 1}`);
    expect(await counts.textContent()).toContain(`${STATUS.installationFailed}1`);
    const perHour = () =>
      page
        .getByTestId('per-hour')
        .locator('.chart-bar')
        .evaluateAll((els) => els.reduce((n, e) => n + Number(e.getAttribute('data-value')), 0));
    await expect.poll(perHour).toBe(DEVICES);
    await expect
      .poll(() => page.getByTestId('report-totals').textContent())
      .toMatch(new RegExp(`^${DEVICES - 1} succeeded · 1 failed`));
    await page.getByRole('table', { name: 'Failures' }).getByText(STATUS.installationFailed).waitFor();
    const csv = page.waitForEvent('download');
    await page.getByRole('button', { name: 'CSV' }).click();
    const file = await (await csv).path();
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(DEVICES + 1); // header + one line a job
    expect(lines.filter((l) => l.includes(STATUS.downloadedVerified))).toHaveLength(DEVICES - 1);
    const link = await page.getByRole('link', { name: 'Temporal UI' }).getAttribute('href');
    expect(decodeURIComponent(link ?? '')).toContain(`workflows?query=RolloutId="${rolloutId}"`);
    await shot(page, 'rollout-completed');

    // retry the failed device: a new rollout of it (retryOf), opened by the page
    await page.getByRole('button', { name: 'Retry 1 failed' }).click();
    await page.waitForURL((u) => /#\/rollouts\/[0-9a-f-]{36}$/.test(u.hash) && !u.hash.endsWith(rolloutId));
    const retryId = page.url().split('/').pop() as string;
    const retry = await stack.api('GET', `/api/v1/rollouts/${retryId}/report`);
    expect(retry.body).toMatchObject({ total: 1, retryOf: rolloutId });
    await page.getByRole('link', { name: rolloutId }).waitFor();
  });

  it('pauses and resumes a rollout from its page', async () => {
    const reg = await stack.api('POST', '/api/v1/devices', {
      devices: Array.from({ length: 3 }, (_, i) => ({ externalId: `console-pull-${i}-${Date.now()}`, platform: 'android' })),
    });
    expect(reg.status).toBe(201);
    const created = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: fleet.software!.id,
      devices: { ids: reg.body.devices.map((d: { id: string }) => d.id) },
      options: { useDm: false, push: 'mark' },
      schedule: { perDay: 1, weekdays: ALL_DAYS, window: { start: '00:00', end: '24:00' }, timeZone: 'UTC' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    await visit(page, `#/rollouts/${id}`, /^Rollout\b(?!s)/);
    const state = page.locator('h1 .badge').first();
    await expect.poll(() => state.textContent(), { timeout: 15_000 }).toBe('running');
    expect(await page.getByTestId('next-start').textContent()).toMatch(/UTC · .* your time \(Europe\/Berlin\)/);

    await page.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => state.textContent()).toBe('paused');
    expect((await stack.api('GET', `/api/v1/rollouts/${id}`)).body.state).toBe('paused');
    await shot(page, 'rollout-paused');

    await page.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => state.textContent()).toBe('running');
    expect((await stack.api('GET', `/api/v1/rollouts/${id}`)).body.state).toBe('running');
    await shot(page, 'rollout-running');

    // change the schedule: 2 a day from now on
    await page.getByRole('button', { name: 'Change schedule' }).click();
    expect(await unlabelled(page)).toEqual([]);
    await page.getByRole('form', { name: 'Change schedule' }).getByLabel('Installations per day').fill('2');
    await page.getByRole('button', { name: 'Save schedule' }).click();
    await page.getByRole('status').filter({ hasText: 'Schedule changed.' }).waitFor();
    expect((await stack.api('GET', `/api/v1/rollouts/${id}`)).body.schedule.perDay).toBe(2);

    // one job cancelled alone, from its log on the Installation status page
    await visit(page, `#/status?rollout=${id}`, 'Installation status');
    await page.getByTestId('installing-table').getByText(STATUS.waitingForDownload).first().click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Cancel this job' }).click();
    await dialog.locator('p .badge', { hasText: STATUS.cancelled }).waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();

    // and the rollout, from its page
    await visit(page, `#/rollouts/${id}`, /^Rollout\b(?!s)/);
    await page.getByRole('button', { name: 'Cancel rollout' }).click();
    await expect.poll(() => state.textContent(), { timeout: 15_000 }).toBe('cancelled');
    expect(await page.getByRole('button', { name: /^(Pause|Resume|Cancel rollout)$/ }).count()).toBe(0);
  });

  it('devices and rollouts pages: filters, last contact, jobs; edit, rotate token, retire', async () => {
    await visit(page, '#/devices', 'Devices');
    await page.getByLabel('Platform').selectOption('android');
    await page.getByRole('button', { name: 'Apply' }).click();
    const rows = page.getByRole('table', { name: 'Devices' }).locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(DEVICES + 3);
    await shot(page, 'devices');
    const first = fleet.devices[0]!;
    await page.getByRole('link', { name: first.profile.externalId }).click();
    await page.getByRole('heading', { level: 1, name: `Device ${first.profile.externalId}` }).waitFor();
    expect(await unlabelled(page)).toEqual([]);
    await page.getByRole('table', { name: 'Jobs of this device' }).getByText(STATUS.downloadedVerified).waitFor();
    await shot(page, 'device');

    // edit, rotate the token, retire — each through the API, each visible on the page
    const reg = await stack.api('POST', '/api/v1/devices', {
      devices: [{ externalId: `console-edit-${Date.now()}`, platform: 'symbian' }],
    });
    const id = reg.body.devices[0].id as string;
    const oldToken = reg.body.devices[0].token as string;
    await visit(page, `#/devices/${id}`, /^Device /);
    await page.getByLabel('MSISDN').fill('+4915112345678');
    await page.getByLabel('Tags (comma separated)').fill('field, pilot');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    expect((await stack.api('GET', `/api/v1/devices/${id}`)).body).toMatchObject({
      msisdn: '+4915112345678',
      tags: ['field', 'pilot'],
    });
    await page.getByRole('button', { name: 'Rotate token' }).click();
    const shown = await page.getByRole('status').filter({ hasText: 'New device token' }).locator('code').textContent();
    expect(shown).toMatch(/^drd_/);
    const sync = (token: string) => stack.api('POST', '/api/v1/device/sync', { installed: {} }, token);
    expect((await sync(oldToken)).status).toBe(401);
    expect((await sync(shown as string)).status).toBe(200);
    await page.getByRole('button', { name: 'Retire' }).click();
    await page.getByText('Retired', { exact: true }).waitFor();
    expect((await stack.api('GET', `/api/v1/devices/${id}`)).body.retiredAt).not.toBeNull();
    expect(await page.getByRole('button', { name: /^(Retire|Rotate token|Save)$/ }).count()).toBe(0);

    await visit(page, '#/rollouts', 'Rollouts');
    const listed = page.getByRole('table', { name: 'Rollouts' }).locator('tbody tr');
    await expect.poll(() => listed.count()).toBe(3); // the wizard's, the paused-and-cancelled one, the retry
    await shot(page, 'rollouts');
    await page.getByLabel('State').selectOption('cancelled');
    await expect.poll(() => listed.locator('.badge').allTextContents()).toEqual(['cancelled']);
    expect(page.url()).toContain('#/rollouts?state=cancelled');
    await page.getByLabel('State').selectOption('');
  });

  it('staged groups: a canary, then the rest once approved on the page', async () => {
    const fleet2 = new Fleet({
      api: api(),
      control: consoleControl(api()),
      devices: 3,
      platforms: ['android'],
      push: 'sms',
      useDm: false,
      timing: { syncDelayMs: 300, reactionMs: 200, pollIntervalMs: 1_000, offlineMs: 1_000 },
      timeoutMs: 60_000,
      seed: 17,
    });
    await fleet2.register();
    fleet2.software = fleet.software;
    await visit(page, '#/rollouts/new', 'New rollout');
    await page.getByLabel('Software', { exact: true }).selectOption(fleet.software!.id);
    await page.getByRole('radio', { name: 'By device ids' }).check();
    await page.getByLabel('Device ids (one per line)').fill(fleet2.devices.map((d) => d.id).join('\n'));
    await page.getByRole('checkbox', { name: /Unlimited/ }).check();
    for (const d of ['Sat', 'Sun']) await page.getByRole('checkbox', { name: d }).check();
    await page.getByLabel('Window start').fill('00:00');
    await page.getByLabel(/^Window end/).fill('24:00');
    await page.getByRole('button', { name: 'Add group' }).click();
    await page.getByRole('button', { name: 'Add group' }).click();
    await page.getByLabel('Group 1 name').fill('canary');
    await page
      .getByLabel(/^Devices \(count or %/)
      .first()
      .fill('1');
    await page.getByLabel('Group 2 name').fill('rest');
    await page.getByLabel('Success threshold').fill('100%');
    await page.getByLabel('Next group starts').selectOption('manual');
    expect(await unlabelled(page)).toEqual([]);
    const planned = page.getByRole('table', { name: 'Planned groups' });
    await expect
      .poll(() => planned.locator('tbody tr').allTextContents(), { timeout: 10_000 })
      .toEqual([expect.stringMatching(/^canary1/), expect.stringMatching(/^rest2/)]);
    await shot(page, 'new-rollout-groups');

    const { id } = await fleet2.startRollout();
    const groups = page.getByRole('table', { name: 'Groups' });
    const approve = page.getByRole('button', { name: 'Approve rest' });
    await approve.waitFor({ timeout: 30_000 });
    expect(await groups.locator('tr[data-group="1"] .badge').textContent()).toBe('awaiting-approval');
    await page.getByRole('status').filter({ hasText: "Group 1 (rest) waits for an operator's approval." }).waitFor();
    // the schedule's next start says why there is none
    expect(await page.getByTestId('next-start').textContent()).toBe('none while group 1 (rest) waits for approval');
    await shot(page, 'rollout-groups-awaiting-approval');
    await approve.click();
    expect(await fleet2.waitUntilFinal()).toBe(true);
    await fleet2.stop();
    await page.locator('h1 .badge', { hasText: 'completed' }).waitFor({ timeout: 15_000 });
    await expect.poll(() => groups.locator('tbody tr .badge').allTextContents()).toEqual(['done', 'done']);
    await expect.poll(() => page.getByTestId('report-totals').textContent()).toMatch(/^3 succeeded · 0 failed/);
    const final = await stack.api('GET', `/api/v1/rollouts/${id}`);
    expect(final.body.counts[STATUS.downloadedVerified]).toBe(3);
  });

  it('a viewer key sees no button it may not use', async () => {
    const key = await stack.api('POST', '/api/v1/admin-keys', { name: 'console viewer', role: 'viewer' });
    expect(key.status).toBe(201);
    const ctx = await browser.newContext({ timezoneId: ZONE, viewport: { width: 1400, height: 900 } });
    const p = watch(await ctx.newPage());
    await signIn(p, key.body.key);
    await p.getByText('viewer', { exact: true }).waitFor();
    const forbidden =
      /^(New rollout|Pause|Resume|Cancel rollout|Change schedule|Retry.*|Approve.*|Upload|Rotate token|Retire|Save|Start rollout)$/;
    const pages: [string, string | RegExp][] = [
      ['#/rollouts', 'Rollouts'],
      [`#/rollouts/${rolloutId}`, /^Rollout\b(?!s)/],
      [`#/status?rollout=${rolloutId}`, 'Installation status'],
      ['#/devices', 'Devices'],
      [`#/devices/${fleet.devices[0]!.id}`, /^Device /],
      ['#/software', 'Software'],
    ];
    for (const [hash, title] of pages) {
      await visit(p, hash, title);
      await p.waitForLoadState('networkidle');
      expect(await p.getByRole('button', { name: forbidden }).count(), hash).toBe(0);
      expect(await p.getByRole('link', { name: forbidden }).count(), hash).toBe(0);
    }
    // a job's log without its cancel button
    await visit(p, `#/status?rollout=${rolloutId}`, 'Installation status');
    await p.getByTestId('installed-table').getByText(STATUS.downloadedVerified).first().click();
    await p.getByRole('dialog').getByText(`→ ${STATUS.downloadedVerified}`).waitFor();
    expect(await p.getByRole('button', { name: forbidden }).count()).toBe(0);
    await p.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
    // what a viewer may use is there
    await visit(p, `#/rollouts/${rolloutId}`, /^Rollout\b(?!s)/);
    await p.getByRole('link', { name: 'Temporal UI' }).waitFor();
    await shot(p, 'viewer-rollout');
    await ctx.close();
  });

  it('an operator key controls rollouts but sees no device or software buttons', async () => {
    const key = await stack.api('POST', '/api/v1/admin-keys', { name: 'console operator', role: 'operator' });
    expect(key.status).toBe(201);
    const ctx = await browser.newContext({ timezoneId: ZONE, viewport: { width: 1400, height: 900 } });
    const p = watch(await ctx.newPage());
    await signIn(p, key.body.key);
    await p.getByRole('link', { name: 'New rollout' }).first().waitFor();
    const adminOnly = /^(Upload|Rotate token|Retire|Save)$/;
    for (const [hash, title] of [
      ['#/software', 'Software'],
      [`#/devices/${fleet.devices[0]!.id}`, /^Device /],
    ] as [string, string | RegExp][]) {
      await visit(p, hash, title);
      await p.waitForLoadState('networkidle');
      expect(await p.getByRole('button', { name: adminOnly }).count(), hash).toBe(0);
    }
    await visit(p, '#/rollouts/new', 'New rollout');
    await p.getByRole('button', { name: 'Start rollout' }).waitFor();
    await ctx.close();
  });

  it('Installation status pages through a large table and searches by status and device', async () => {
    const n = 250;
    const stamp = Date.now();
    const reg = await stack.api('POST', '/api/v1/devices', {
      devices: Array.from({ length: n }, (_, i) => ({
        externalId: `page-${stamp}-${String(i).padStart(3, '0')}`,
        platform: 'android',
      })),
    });
    expect(reg.status).toBe(201);
    const created = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: fleet.software!.id,
      devices: { ids: reg.body.devices.map((d: { id: string }) => d.id) },
      options: { useDm: false, push: 'mark' },
      schedule: { perDay: 1, weekdays: ALL_DAYS, window: { start: '00:00', end: '24:00' }, timeZone: 'UTC' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    await visit(page, `#/status?rollout=${id}`, 'Installation status');
    const installing = page.getByTestId('installing-table');
    const first = () => installing.locator('tbody tr td:first-child').first().textContent();
    await expect.poll(() => installing.locator('tbody tr').count()).toBe(100);
    await page.getByRole('heading', { name: `Installing · ${n}` }).waitFor();
    const pager = page.getByRole('navigation', { name: 'Installing pages' });
    await pager.getByRole('button', { name: 'Next →' }).click();
    await expect.poll(first).toBe('101');
    await pager.getByRole('button', { name: 'Next →' }).click();
    await expect.poll(first).toBe('201');
    expect(await installing.locator('tbody tr').count()).toBe(n - 200);
    expect(await pager.getByRole('button', { name: 'Next →' }).isDisabled()).toBe(true);
    await pager.getByRole('button', { name: '← Previous' }).click();
    await expect.poll(first).toBe('101');

    // by status (the server filters): the one job started so far
    await page
      .getByRole('region', { name: /^Installing/ })
      .getByLabel('Status')
      .selectOption(STATUS.waitingForDownload);
    await expect.poll(() => installing.locator('tbody tr').count()).toBe(1);
    expect(await first()).toBe('1');
    await page
      .getByRole('region', { name: /^Installing/ })
      .getByLabel('Status')
      .selectOption('');
    // by device (the server searches every page): from page 2, a device of page 3, by part of its id
    await page.getByLabel('Device').fill(`${stamp}-230`);
    await expect
      .poll(() => installing.locator('tbody tr').allTextContents())
      .toEqual([expect.stringContaining(`page-${stamp}-230`)]);
    expect(await first()).toBe('231');
    await shot(page, 'installation-status-search');
    await stack.api('POST', `/api/v1/rollouts/${id}/cancel`, {});
  });

  it('no console errors on any signed-in page', () => {
    expect(consoleErrors).toEqual([]);
  });
});
