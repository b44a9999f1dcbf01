/**
 * Issue 3 end to end, against the dev server, PostgreSQL, the worker and the HTTP API, driven over
 * HTTP like an admin and a device would: register the device, upload the software, start one install
 * (a rollout row + job row and the install workflow started through the Temporal client — the
 * rollout API is its own issue), the device syncs and gets its Mark-for-installation link, downloads
 * it with an interrupted then resumed Range download (bytes and SHA-256 equal the upload), syncs the
 * new version, and the job is `Downloaded – Verified` in the API and as the InstallStatus search
 * attribute.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { installWorkflow } from '../../workflows/install';
import { type InstallInput, installWorkflowId } from '../../workflows/messages';
import { type Stack, startStack } from '../helpers/stack';
import { until } from '../helpers/until';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('install end to end over HTTP (issue 3)', () => {
  it('register → upload → install → sync gives the link → interrupted + resumed download → sync → Downloaded – Verified', async () => {
    // 1. the admin registers the device (it reports the old client) and uploads the new client
    const reg = await stack.api('POST', '/api/v1/devices', {
      devices: [{ externalId: '356938035643809', platform: 'windows-mobile-pocketpc', installed: { 'DME Client': '5.1' } }],
    });
    expect(reg.status).toBe(201);
    const { id: deviceId, token } = reg.body.devices[0];

    const cab = randomBytes(64 * 1024 * 1024);
    const form = new FormData();
    for (const [k, v] of Object.entries({
      name: 'DME Client',
      version: '5.2',
      kind: 'dme-client',
      platforms: 'windows-mobile-pocketpc',
    })) {
      form.append(k, v);
    }
    form.append('file', new Blob([cab]), 'DMEClient.cab');
    const up = await fetch(`${stack.baseUrl}/api/v1/software`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminKey}` },
      body: form,
    });
    expect(up.status).toBe(201);
    const software = (await up.json()) as { id: string; sha256: string; size: number };
    expect(software.sha256).toBe(sha256(cab));

    // 2. one install: the rollout and job rows, and the install workflow (deterministic id)
    const [rollout] = await stack
      .db('rollouts')
      .insert({
        software_id: software.id,
        options: { useDm: false, push: 'mark' },
        schedule: { perDay: 'unlimited' },
        state: 'running',
        total: 1,
      })
      .returning('id');
    const [job] = await stack.db('installations').insert({ rollout_id: rollout.id, device_id: deviceId, seq: 0 }).returning('id');
    const workflowId = installWorkflowId(rollout.id, deviceId);
    const input: InstallInput = {
      installationId: job.id,
      rolloutId: rollout.id,
      deviceId,
      softwareId: software.id,
      options: { useDm: false, push: 'mark', maxPushAttempts: 1 },
      timeouts: stack.config.timeouts,
    };
    const handle = await stack.client.workflow.start(installWorkflow, {
      taskQueue: stack.config.taskQueue,
      workflowId,
      args: [input],
    });
    // a duplicate start is refused
    await expect(
      stack.client.workflow.start(installWorkflow, { taskQueue: stack.config.taskQueue, workflowId, args: [input] }),
    ).rejects.toThrow(/already started/i);

    const jobOf = async () => {
      const res = await stack.api('GET', `/api/v1/devices/${deviceId}`);
      expect(res.status).toBe(200);
      return res.body.jobs.find((j: any) => j.id === job.id);
    };
    await until('Waiting for download', async () => ((await jobOf())?.status === STATUS.waitingForDownload ? true : undefined));

    // 3. the device syncs and learns of its pending install
    const synced = await stack.api('POST', '/api/v1/device/sync', { installed: { 'DME Client': '5.1' } }, token);
    expect(synced.status).toBe(200);
    expect(synced.body.pending).toHaveLength(1);
    const pending = synced.body.pending[0];
    expect(pending).toMatchObject({
      jobId: job.id,
      software: 'DME Client',
      version: '5.2',
      size: cab.length,
      sha256: software.sha256,
    });
    expect(pending.url.startsWith(`${stack.config.publicUrl}/d/`)).toBe(true);
    const url = pending.url.replace(stack.config.publicUrl, stack.baseUrl);

    // 4. download begins, breaks after a few MB, resumes from the interrupted byte
    expect(
      (await stack.api('POST', '/api/v1/device/reports', { jobId: job.id, phase: 'download-begin', result: 'success' }, token))
        .status,
    ).toBe(202);
    const abort = new AbortController();
    const first = await fetch(url, { signal: abort.signal });
    expect(first.status).toBe(200);
    expect(first.headers.get('accept-ranges')).toBe('bytes');
    const reader = first.body!.getReader();
    const parts: Uint8Array[] = [];
    let got = 0;
    while (got < 2 * 1024 * 1024) {
      const { value, done } = await reader.read();
      if (done) break;
      parts.push(value);
      got += value.length;
    }
    abort.abort();
    await reader.cancel().catch(() => undefined);
    expect(got).toBeLessThan(cab.length);

    const resumed = await fetch(url, { headers: { range: `bytes=${got}-` } });
    expect(resumed.status).toBe(206);
    expect(resumed.headers.get('content-range')).toBe(`bytes ${got}-${cab.length - 1}/${cab.length}`);
    parts.push(new Uint8Array(await resumed.arrayBuffer()));
    const file = Buffer.concat(parts);
    expect(file.equals(cab)).toBe(true);
    expect(sha256(file)).toBe(pending.sha256);
    expect(sha256(file)).toBe(resumed.headers.get('x-checksum-sha256'));

    // serving the last byte signalled the workflow (before the device's own download-end report)
    const downloaded = await until('Downloaded – Waiting for verification', async () => {
      const j = await jobOf();
      return j?.status === STATUS.downloadedWaitingForVerification ? j : undefined;
    });
    expect(downloaded.log.map((l: any) => l.message)).toContain('the device downloaded the software (last byte served)');
    const ticket = new URL(url).pathname.split('/').pop();
    expect((await stack.db('push_tickets').where({ ticket }).first()).downloaded_at).toBeInstanceOf(Date);
    expect(
      (await stack.api('POST', '/api/v1/device/reports', { jobId: job.id, phase: 'download-end', result: 'success' }, token))
        .status,
    ).toBe(202);
    // no longer pending
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: { 'DME Client': '5.1' } }, token)).body.pending).toEqual(
      [],
    );

    // 5. the device installs it and syncs the new version → verified
    expect(
      (await stack.api('POST', '/api/v1/device/reports', { jobId: job.id, phase: 'post-install', result: 'success' }, token))
        .status,
    ).toBe(202);
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: { 'DME Client': '5.2' } }, token)).status).toBe(200);
    const verified = await until('Downloaded – Verified', async () => {
      const j = await jobOf();
      return j?.status === STATUS.downloadedVerified ? j : undefined;
    });
    expect(verified).toMatchObject({ final: true, method: 'mark', workflowId, software: { name: 'DME Client', version: '5.2' } });
    expect(verified.log.filter((l: any) => l.event === 'status').map((l: any) => l.to)).toEqual([
      STATUS.waitingForDownload,
      STATUS.downloadedWaitingForVerification,
      STATUS.downloadedVerified,
    ]);
    expect(verified.log.filter((l: any) => l.event === 'report').map((l: any) => l.message)).toEqual([
      'device report: download-begin success',
      'device report: download-end success',
      'device report: post-install success',
    ]);
    expect(await handle.result()).toMatchObject({ installationId: job.id, status: STATUS.downloadedVerified });
    const device = await stack.api('GET', `/api/v1/devices/${deviceId}`);
    expect(device.body.installed).toEqual({ 'DME Client': '5.2' });

    // 6. operators find it by the search attribute (visibility is eventually consistent)
    const found = await until('the InstallStatus search attribute', async () => {
      for await (const wf of stack.client.workflow.list({
        query: `InstallStatus = "${STATUS.downloadedVerified}" AND DeviceId = "${deviceId}"`,
      })) {
        if (wf.workflowId === workflowId) return wf;
      }
      return undefined;
    });
    expect(found.status.name).toBe('COMPLETED');
    expect(found.searchAttributes.InstallStatus).toEqual([STATUS.downloadedVerified]);
    expect(found.searchAttributes.RolloutId).toEqual([rollout.id]);
  });
});
