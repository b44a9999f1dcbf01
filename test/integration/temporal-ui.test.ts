/**
 * The operator's question "which jobs of this rollout are waiting for download?" answered in the
 * Temporal Web UI (dev server) by the list filter from docs/operators.md, in headless Chromium.
 * Saves a screenshot to test-output/temporal-ui-waiting-for-download.png.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../devstack/child-process';
import { type DevServer, startDevServer } from '../../devstack/dev-server';
import { STATUS } from '../../domain/status';
import { installWorkflowId } from '../../workflows/messages';
import { launchChromium } from '../helpers/browser';
import { type Stack, startStack } from '../helpers/stack';

const OUT = path.resolve(__dirname, '..', '..', 'test-output');

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('Temporal UI answers the operator (headless Chromium)', () => {
  let dev: DevServer;
  let stack: Stack;
  let browser: Browser;
  let uiPort: number;

  beforeAll(async () => {
    uiPort = await freePort();
    dev = await startDevServer({ uiPort, logFile: path.join(inject('integrationTmpDir'), 'temporal-ui.log') });
    stack = await startStack({ env: { TEMPORAL_ADDRESS: dev.address } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await dev?.stop();
  });

  async function rollout(devices: string[], softwareId: string): Promise<string> {
    const res = await stack.api('POST', '/api/v1/rollouts', {
      softwareId,
      devices: { ids: devices },
      options: { useDm: false, push: 'mark' },
      schedule: {
        perDay: 'unlimited',
        timeZone: 'UTC',
        weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        window: { start: '00:00', end: '24:00' },
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id;
  }

  it('lists exactly the jobs of one rollout that wait for download', async () => {
    const reg = await stack.api('POST', '/api/v1/devices', {
      devices: Array.from({ length: 4 }, (_, i) => ({ externalId: `ui-${i}-${Date.now()}`, platform: 'android' })),
    });
    expect(reg.status).toBe(201);
    const ids: string[] = reg.body.devices.map((d: { id: string }) => d.id);
    const form = new FormData();
    for (const [k, v] of Object.entries({ name: 'Field App', version: '2.0', kind: 'other', platforms: 'android' }))
      form.append(k, v);
    form.append('file', new Blob([Buffer.from('apk bytes')]), 'field-app.apk');
    const up = await fetch(`${stack.baseUrl}/api/v1/software`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminKey}` },
      body: form,
    });
    expect(up.status).toBe(201);
    const softwareId = ((await up.json()) as { id: string }).id;

    const a = await rollout(ids.slice(0, 3), softwareId);
    const b = await rollout(ids.slice(3), softwareId);
    const expected = ids.slice(0, 3).map((d) => installWorkflowId(a, d));
    const query = `RolloutId="${a}" AND InstallStatus="${STATUS.waitingForDownload}"`;
    // visibility is eventually consistent: wait until the server lists them, then ask the UI
    await until('visibility', async () => {
      const found: string[] = [];
      for await (const wf of stack.client.workflow.list({ query })) found.push(wf.workflowId);
      return found.length === expected.length ? found : undefined;
    });

    // each install carries a static summary: device, software and version
    const handle = stack.client.workflow.getHandle(expected[0]!);
    const desc = await handle.describe();
    expect(await desc.staticSummary()).toBe(`Install Field App 2.0 on device ${ids[0]}`);

    const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    await page.goto(`http://127.0.0.1:${uiPort}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
    for (const id of expected) await page.getByText(id, { exact: true }).waitFor({ timeout: 30_000 });
    await page.getByText(`${expected.length} Workflows`).waitFor({ timeout: 10_000 });
    expect(await page.getByText(installWorkflowId(b, ids[3]!), { exact: true }).count()).toBe(0);
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: path.join(OUT, 'temporal-ui-waiting-for-download.png') });
    await page.close();
  });
});
