/**
 * Issue 7 end to end on the dev server: the install workflow (workflows/install.ts) with the native
 * OMA DM engine (omadm/engine.ts) and the simulated DM client (simulator/dm-client.ts) talking to
 * the real `/dm` endpoint. Pushes go through the recording channel; the client reads them from the
 * `messages` table like a phone receives its SMS.
 *
 *  - not bootstrapped → bootstrap → DM install → `Installed – Waiting for verification` → system-info
 *    sync → `Installed – Verified`, with the client speaking XML, WBXML, and with a small MaxMsgSize
 *    (the package split across messages); and with a device that rejects stale server credentials;
 *  - wrong credentials → 401 in the DM session, the bootstrap is never confirmed → after the bootstrap
 *    timeout the job falls back to SMS push (`Waiting for download`);
 *  - the DM install fails (SCOMO 1405) → fallback to SMS push → the device downloads the link → sync →
 *    `Downloaded – Verified`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { createRecordingChannel } from '../../infra/channels/recording';
import { createDmEngine } from '../../omadm/engine';
import { type DmSessionRecord, RecordedPushInbox, SimulatedDmClient } from '../../simulator/dm-client';
import { installWorkflow } from '../../workflows/install';
import { type InstallInput, type InstallResult, installWorkflowId } from '../../workflows/messages';
import { type Stack, startStack } from '../helpers/stack';
import { until } from '../helpers/until';

let stack: Stack;
const handles: WorkflowHandle[] = [];
const toLoopback = (u: string) => u.replace(/^http:\/\/localhost:/, 'http://127.0.0.1:');

beforeAll(async () => {
  stack = await startStack({
    deps: (db, config) => {
      const push = createRecordingChannel(db);
      return { push, dm: createDmEngine({ db, push, config }) };
    },
  });
});
afterAll(async () => {
  await Promise.all(handles.map((h) => h.terminate('test over').catch(() => undefined)));
  await stack?.stop();
});

interface Setup {
  deviceId: string;
  token: string;
  msisdn: string;
  installationId: string;
  software: { id: string; name: string; version: string };
  handle: WorkflowHandle;
  inbox: RecordedPushInbox;
  client: SimulatedDmClient;
}

type ClientOptions = ConstructorParameters<typeof SimulatedDmClient>[0];

/** Registers a Symbian device (not bootstrapped), uploads a DME client, starts its DM install. */
async function start(
  knobs: ClientOptions['knobs'],
  timeouts: Partial<InstallInput['timeouts']> = {},
  mode: Pick<ClientOptions, 'encoding' | 'maxMsgSize'> = {},
): Promise<Setup> {
  const externalId = `35${String(randomBytes(6).readUIntBE(0, 6)).padStart(13, '0').slice(-13)}`;
  const msisdn = `+49152${String(randomBytes(4).readUInt32BE(0)).padStart(10, '0').slice(-8)}`;
  const reg = await stack.api('POST', '/api/v1/devices', {
    devices: [{ externalId, platform: 'symbian', msisdn, installed: { Other: '1.0' } }],
  });
  expect(reg.status).toBe(201);
  const { id: deviceId, token } = reg.body.devices[0];

  const name = `DME Client ${randomUUID().slice(0, 8)}`;
  const form = new FormData();
  for (const [k, v] of Object.entries({ name, version: '5.2', kind: 'dme-client', platforms: 'symbian' })) form.append(k, v);
  form.append('file', new Blob([randomBytes(48 * 1024)]), 'DMEClient.sisx');
  const up = await fetch(`${stack.baseUrl}/api/v1/software`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminKey}` },
    body: form,
  });
  expect(up.status).toBe(201);
  const software = (await up.json()) as { id: string };

  const [rollout] = await stack
    .db('rollouts')
    .insert({
      software_id: software.id,
      options: { useDm: true, push: 'sms' },
      schedule: { perDay: 'unlimited' },
      state: 'running',
      total: 1,
    })
    .returning('id');
  const [job] = await stack.db('installations').insert({ rollout_id: rollout.id, device_id: deviceId, seq: 0 }).returning('id');
  const input: InstallInput = {
    installationId: job.id,
    rolloutId: rollout.id,
    deviceId,
    softwareId: software.id,
    options: { useDm: true, push: 'sms', maxPushAttempts: 1 },
    timeouts: { bootstrapMs: 60_000, dmInstallMs: 60_000, ticketLifetimeMs: 600_000, verificationMs: 120_000, ...timeouts },
  };
  const handle = await stack.client.workflow.start(installWorkflow, {
    taskQueue: stack.config.taskQueue,
    workflowId: installWorkflowId(rollout.id, deviceId),
    args: [input],
  });
  handles.push(handle);
  return {
    deviceId,
    token,
    msisdn,
    installationId: job.id,
    software: { id: software.id, name, version: '5.2' },
    handle,
    inbox: new RecordedPushInbox(stack.db, msisdn),
    client: new SimulatedDmClient({ deviceUri: `IMEI:${externalId}`, knobs, rewriteUrl: toLoopback, ...mode }),
  };
}

const statusOf = async (installationId: string) =>
  (await stack.db('installations').where({ id: installationId }).first())?.status;

const reached = (s: Setup, status: string) =>
  until(status, async () => ((await statusOf(s.installationId)) === status ? true : undefined));

async function log(installationId: string) {
  return stack
    .db('installation_log')
    .where({ installation_id: installationId })
    .orderBy('id')
    .select('event', 'from_status', 'to_status', 'message', 'entry_key');
}

/**
 * not bootstrapped → bootstrap → DM install → Installed – Waiting for verification → sync →
 * Installed – Verified, with the client in the given mode. Returns the setup for more checks.
 */
async function installsAndVerifies(mode: Pick<ClientOptions, 'encoding' | 'maxMsgSize'>, knobs: ClientOptions['knobs'] = {}) {
  const { staleServerNonceOnce, ...startKnobs } = knobs;
  const s = await start(startKnobs, {}, mode);

  // the bootstrap arrives by WAP push; the device's first session confirms it. The server presents
  // its credentials and gets the device's verdict back (212 + NextNonce): one more exchange.
  await reached(s, STATUS.waitingForBootstrap);
  const bootstrap = await s.inbox.deliverNext(s.client, { timeoutMs: 60_000 });
  expect(bootstrap.idempotencyKey).toBe(`${s.installationId}:bootstrap`);
  const first = s.client.sessions[0];
  expect(first).toMatchObject({ outcome: 'completed', serverAuthenticated: true });
  expect(first?.headerCodes[0]).toBe(212);
  expect(first?.headerCodes.slice(1).every((c) => c === 200)).toBe(true);
  expect(first?.headerCodes.length).toBeGreaterThanOrEqual(2);

  // the trigger follows (its digest over the nonce the device set last); the session installs; the
  // device downloads and reports 1200
  if (staleServerNonceOnce) s.client.knobs.staleServerNonceOnce = true;
  const trigger = await s.inbox.deliverNext(s.client, { timeoutMs: 60_000 });
  expect(trigger.idempotencyKey).toBe(`${s.installationId}:dm-install`);
  // A race the protocol allows: when the workflow queues the install while the bootstrap session is
  // still open (it takes two exchanges or more), that session installs it; the trigger then finds
  // nothing to do, or is refused if its digest was made before the device's new server nonce came in.
  const installedInBootstrapSession = ['bootstrap-applied', 'session', 'download', 'session', 'install-reported'];
  expect([
    ['bootstrap-applied', 'session', 'trigger-accepted', 'session', 'download', 'session', 'install-reported'],
    [...installedInBootstrapSession, 'trigger-accepted', 'session'],
    [...installedInBootstrapSession, 'trigger-rejected'],
  ]).toContainEqual(s.client.events.map((e) => e.type));
  expect(s.client.events.find((e) => e.type === 'download')).toMatchObject({ status: 200, ok: true });
  await reached(s, STATUS.installedWaitingForVerification);
  expect((await stack.db('devices').where({ id: s.deviceId }).first()).bootstrapped).toBe(true);

  // the device's next system-info sync reports the new version
  const sync = await stack.api('POST', '/api/v1/device/sync', { installed: { [s.software.name]: '5.2' } }, s.token);
  expect(sync.status).toBe(200);
  const result = (await s.handle.result()) as InstallResult;
  expect(result.status).toBe(STATUS.installedVerified);
  expect(await statusOf(s.installationId)).toBe(STATUS.installedVerified);

  const entries = await log(s.installationId);
  expect(entries.filter((e) => e.event === 'status').map((e) => e.to_status)).toEqual([
    STATUS.waitingForBootstrap,
    STATUS.installingSoftware,
    STATUS.installedWaitingForVerification,
    STATUS.installedVerified,
  ]);
  const dm = entries.filter((e) => e.entry_key.startsWith('dm:')).map((e) => e.entry_key.replace(/:[^:]*$/, ''));
  expect(dm).toEqual(['dm:bootstrap-confirmed', `dm:accepted`, `dm:result:${s.installationId}`]);
  expect(entries.some((e) => e.event === 'fallback')).toBe(false);
  // nothing went by SMS / WAP push
  expect(await stack.db('messages').where({ recipient: s.msisdn }).whereNot({ channel: 'binary' })).toEqual([]);
  // every session completed, every server message within the MaxMsgSize the device announced
  expect(s.client.sessions.every((x) => x.outcome === 'completed')).toBe(true);
  const limit = mode.maxMsgSize ?? 65_536;
  for (const session of s.client.sessions) for (const size of session.serverMessageSizes) expect(size).toBeLessThanOrEqual(limit);
  const installSession = s.client.sessions.find((x) => x.commands.some((c) => c.cmd === 'Exec'));
  expect(installSession?.commands.filter((c) => c.cmd === 'Exec')).toEqual([
    { cmd: 'Exec', status: 202, target: expect.stringMatching(/\/Operations\/DownloadInstall$/) },
  ]);
  return { ...s, installSession: installSession as DmSessionRecord };
}

describe('install by OMA DM, end to end (issue 7)', () => {
  it('XML: not bootstrapped → bootstrap → DM install → Installed – Waiting for verification → sync → Installed – Verified', async () => {
    const s = await installsAndVerifies({ encoding: 'xml' });
    expect(s.installSession.continuations).toBe(0);
  });

  it('WBXML: the same install flow, every message in application/vnd.syncml.dm+wbxml', async () => {
    // (the client refuses a reply in another encoding than its own)
    const s = await installsAndVerifies({ encoding: 'wbxml' });
    expect(s.installSession.continuations).toBe(0);
  });

  for (const [encoding, maxMsgSize] of [
    ['xml', 1100],
    ['wbxml', 420],
  ] as const) {
    it(`${encoding.toUpperCase()}, MaxMsgSize ${maxMsgSize}: the install package arrives in several messages, none over the limit`, async () => {
      const s = await installsAndVerifies({ encoding, maxMsgSize });
      const install = s.installSession;
      expect(install?.continuations).toBeGreaterThan(0); // messages without Final, Alert 1222 for more
      expect(install?.serverMessageSizes.length).toBeGreaterThan(3);
      expect(Math.max(...(install?.serverMessageSizes ?? []))).toBeLessThanOrEqual(maxMsgSize);
      // the device holds the whole package description it was sent
      const url = [...s.client.tree.entries()].find(([k]) => k.endsWith('/PkgURL'))?.[1];
      expect(url).toMatch(/^https?:\/\/.+\/d\/[\w-]+$/);
    });
  }

  it('the device rejects stale server credentials (401 + Chal): the session recovers and the install goes on', async () => {
    const s = await installsAndVerifies({ encoding: 'wbxml' }, { staleServerNonceOnce: true });
    // (when the install ran in the bootstrap session and the trigger was refused, no session has
    // followed yet: the device's next check-in meets the stale nonce instead)
    if (s.client.knobs.staleServerNonceOnce) expect((await s.client.checkIn()).outcome).toBe('completed');
    const refused = s.client.sessions.filter((x) => x.serverCredRejections > 0);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ serverCredRejections: 1, serverAuthenticated: true, outcome: 'completed' });
  });

  it('wrong credentials → 401; the bootstrap times out and the job falls back to SMS push', async () => {
    const s = await start({ wrongPassword: true }, { bootstrapMs: 4_000 });
    await s.inbox.deliverNext(s.client, { timeoutMs: 60_000 });
    expect(s.client.sessions[0]).toMatchObject({ headerCodes: [407, 407, 401], outcome: 'auth-failed' });

    await reached(s, STATUS.waitingForDownload);
    const entries = await log(s.installationId);
    const fallback = entries.find((e) => e.event === 'fallback');
    expect(fallback?.message).toBe('the bootstrap was not confirmed within 4s: falling back to SMS push');
    expect(entries.filter((e) => e.event === 'status').map((e) => e.to_status)).toEqual([
      STATUS.waitingForBootstrap,
      STATUS.waitingForDownload,
    ]);
    expect((await stack.db('devices').where({ id: s.deviceId }).first()).bootstrapped).toBe(false);
    const sms = await stack.db('messages').where({ recipient: s.msisdn, channel: 'sms' });
    expect(sms).toHaveLength(1);
    expect(sms[0].body).toMatch(/\/d\/[\w-]+$/);
    // no trigger was ever sent: only the bootstrap went as binary push
    expect(await s.inbox.poll()).toEqual([]);
  });

  it('DM install failure → fallback to SMS push → download → sync → Downloaded – Verified', async () => {
    const s = await start({ failInstall: true });
    await s.inbox.deliverNext(s.client, { timeoutMs: 60_000 }); // bootstrap
    await s.inbox.deliverNext(s.client, { timeoutMs: 60_000 }); // trigger → install → 1405
    // (reported from the trigger's session, or from the bootstrap session when that one installed it)
    expect(s.client.events.filter((e) => e.type === 'install-reported')).toEqual([
      expect.objectContaining({ type: 'install-reported', code: 1405 }),
    ]);

    await reached(s, STATUS.waitingForDownload);
    const fallback = (await log(s.installationId)).find((e) => e.event === 'fallback');
    expect(fallback?.message).toBe(
      'the DM install failed (code 1405): SCOMO OperationComplete result code 1405 (Install failed): falling back to SMS push',
    );

    // the device follows the SMS link, then syncs the new version
    const [sms] = await stack.db('messages').where({ recipient: s.msisdn, channel: 'sms' });
    const link = /(https?:\/\/\S+\/d\/[\w-]+)$/.exec(sms.body)?.[1];
    expect(link).toBeDefined();
    const res = await fetch(toLoopback(link!));
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    await reached(s, STATUS.downloadedWaitingForVerification);
    expect((await stack.api('POST', '/api/v1/device/sync', { installed: { [s.software.name]: '5.2' } }, s.token)).status).toBe(
      200,
    );
    expect(((await s.handle.result()) as InstallResult).status).toBe(STATUS.downloadedVerified);
    expect((await log(s.installationId)).filter((e) => e.event === 'status').map((e) => e.to_status)).toEqual([
      STATUS.waitingForBootstrap,
      STATUS.installingSoftware,
      STATUS.waitingForDownload,
      STATUS.downloadedWaitingForVerification,
      STATUS.downloadedVerified,
    ]);
  });
});
