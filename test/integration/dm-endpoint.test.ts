/**
 * The OMA DM endpoint (`POST /dm`) and the DM engine against the real stack, with the simulated DM
 * client (simulator/dm-client.ts) speaking SyncML DM over HTTP: bootstrap by CP push and its
 * confirmation, syncml:auth-md5 (challenge, accept, 401 after retries, unknown devices), the SCOMO
 * install conversation with the download of the ticket link and the Generic Alert result, idempotent
 * engine retries, secrets at rest, serialized retransmissions and HTTP-level errors.
 *
 * Workflow signals are observed in the history of a recorder workflow that holds the job's install
 * workflow id on a task queue no worker polls (no worker runs here: the e2e file runs the workflow).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { WorkflowHandle } from '@temporalio/client';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { dmRoutes } from '../../api/device/dm';
import { ApiError, errorHandler } from '../../api/http/errors';
import type { DmEngine } from '../../domain/ports';
import { STATUS } from '../../domain/status';
import { createRecordingChannel } from '../../infra/channels/recording';
import { readDmAccount } from '../../omadm/cp-document';
import { CP_WBXML_CONTENT_TYPE, decodeProvisioningWbxml } from '../../omadm/cp-wbxml';
import { computeHmacMac, computeMd5Digest, decodeNonce, formatHmacHeader } from '../../omadm/dm-auth';
import { createDmEngine } from '../../omadm/engine';
import { NOTIFICATION_CONTENT_TYPE, parseNotification, verifyNotification } from '../../omadm/notification';
import { type DmDeviceRow, dmSecretBox, recordFromRow } from '../../omadm/store';
import { SYNCML_DM_WBXML_CONTENT_TYPE, SYNCML_DM_XML_CONTENT_TYPE, serializeSyncML } from '../../omadm/syncml';
import { decodeSyncMLWbxml, encodeSyncMLWbxml } from '../../omadm/syncml-wbxml';
import type { Signaller } from '../../services/signals';
import { RecordedPushInbox, SimulatedDmClient } from '../../simulator/dm-client';
import { installWorkflowId } from '../../workflows/messages';
import { recordedSignals, startSignalRecorder } from '../helpers/signal-recorder';
import { type Stack, startStack } from '../helpers/stack';

let stack: Stack;
let engine: DmEngine;
let n = 0;
const recorders: WorkflowHandle[] = [];
/** A second API instance on the same database: any instance serves any message. */
let second: { server: Server; baseUrl: string };

const toLoopback = (u: string) => u.replace(/^http:\/\/localhost:/, 'http://127.0.0.1:');

beforeAll(async () => {
  stack = await startStack({ noWorker: true, env: { DM_MAX_MESSAGE_SIZE: '32k' } });
  engine = createDmEngine({ db: stack.db, push: createRecordingChannel(stack.db), config: stack.config });
  const app = createApp({ db: stack.db, temporal: stack.client, config: stack.config, log: () => {} });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  second = { server, baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
});
afterAll(async () => {
  await Promise.all(recorders.map((h) => h.terminate('test over').catch(() => undefined)));
  await new Promise((resolve) => second?.server.close(resolve));
  await stack?.stop();
});

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

interface Job {
  deviceId: string;
  externalId: string;
  msisdn: string;
  rolloutId: string;
  installationId: string;
  recorder: WorkflowHandle;
  inbox: RecordedPushInbox;
}

async function uploadSoftware(kind: 'dme-client' | 'other' = 'dme-client') {
  const data = randomBytes(20_000 + ++n);
  const form = new FormData();
  form.append('name', `DME Client ${n}-${randomUUID().slice(0, 6)}`);
  form.append('version', '5.2');
  form.append('kind', kind);
  form.append('platforms', 'symbian');
  form.append('file', new Blob([data]), 'dmeclient.sisx');
  const res = await fetch(`${stack.baseUrl}/api/v1/software`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminKey}` },
    body: form,
  });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { id: string; name: string; version: string; files: { id: string; sha256: string }[] };
  return { ...body, data, sha256: createHash('sha256').update(data).digest('hex') };
}

/** A device with an MSISDN, a rollout, its job waiting for bootstrap and a recorder for its signals. */
async function newJob(softwareId: string): Promise<Job> {
  const externalId = `35${String(randomBytes(6).readUIntBE(0, 6)).padStart(13, '0').slice(-13)}`;
  const msisdn = `+49151${String(randomBytes(4).readUInt32BE(0)).padStart(10, '0').slice(-8)}`;
  const [device] = await stack
    .db('devices')
    .insert({ external_id: externalId, platform: 'symbian', msisdn, token_hash: randomUUID() })
    .returning('id');
  const [rollout] = await stack
    .db('rollouts')
    .insert({ software_id: softwareId, options: { useDm: true, push: 'sms' }, schedule: {}, state: 'running' })
    .returning('id');
  const [inst] = await stack
    .db('installations')
    .insert({ rollout_id: rollout.id, device_id: device.id, seq: 0, status: STATUS.waitingForBootstrap, method: 'dm' })
    .returning('id');
  const recorder = await startSignalRecorder(stack.client, installWorkflowId(rollout.id, device.id));
  recorders.push(recorder);
  return {
    deviceId: device.id,
    externalId,
    msisdn,
    rolloutId: rollout.id,
    installationId: inst.id,
    recorder,
    inbox: new RecordedPushInbox(stack.db, msisdn),
  };
}

function newClient(job: Job, knobs: ConstructorParameters<typeof SimulatedDmClient>[0]['knobs'] = {}, fetchImpl?: typeof fetch) {
  return new SimulatedDmClient({
    deviceUri: `IMEI:${job.externalId}`,
    knobs,
    rewriteUrl: toLoopback,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
}

async function logKeys(installationId: string): Promise<{ entry_key: string; event: string; message: string }[]> {
  return stack
    .db('installation_log')
    .where({ installation_id: installationId })
    .orderBy('id')
    .select('entry_key', 'event', 'message');
}

async function dmRow(deviceId: string): Promise<DmDeviceRow> {
  return stack.db('dm_devices').where({ device_id: deviceId }).first();
}

/** Bootstraps a device through the engine and the client; returns the push it got. */
async function bootstrapped(job: Job, client: SimulatedDmClient) {
  await engine.bootstrap({
    idempotencyKey: `${job.installationId}:bootstrap`,
    installationId: job.installationId,
    deviceId: job.deviceId,
  });
  return job.inbox.deliverNext(client, { timeoutMs: 10_000 });
}

/** A ticket link of attempt 0 (the DM package URL of the job) for the software's file. */
async function packageTicket(job: Job, fileId: string): Promise<string> {
  const ticket = randomBytes(32).toString('base64url');
  await stack.db('push_tickets').insert({
    ticket,
    installation_id: job.installationId,
    file_id: fileId,
    attempt: 0,
    expires_at: stack.db.raw("now() + interval '1 hour'"),
  });
  return `${stack.config.publicUrl}/d/${ticket}`;
}

// ---------------------------------------------------------------------------------------------

describe('bootstrap (M2)', () => {
  it('sends the DM account as a CP WAP push; the first authenticated session confirms it', async () => {
    const sw = await uploadSoftware();
    const job = await newJob(sw.id);
    const client = newClient(job);
    const push = await bootstrapped(job, client);

    // the push: OMA CP WBXML carrying the w7 account for this server
    expect(push.contentType).toBe(CP_WBXML_CONTENT_TYPE);
    const account = readDmAccount(decodeProvisioningWbxml(push.body))!;
    expect(account.serverId).toBe('devicerollout');
    expect(account.address).toBe(`${stack.config.publicUrl}/dm`);
    expect(account.authType).toBe('DIGEST');
    expect(account.client.password.length).toBeGreaterThanOrEqual(20);
    const msg = await stack.db('messages').where({ id: push.id }).first();
    expect(msg.installation_id).toBe(job.installationId);

    // the device applied it and authenticated at once (212)
    expect(client.events[0]).toEqual({ type: 'bootstrap-applied', serverId: 'devicerollout', address: account.address });
    expect(client.sessions).toHaveLength(1);
    expect(client.sessions[0]).toMatchObject({
      initiation: 'client',
      headerCodes: [212, 200], // the second exchange brings the verdict on the server Cred
      outcome: 'completed',
      serverAuthenticated: true,
    });

    // the server's records
    const device = await stack.db('devices').where({ id: job.deviceId }).first();
    expect(device.bootstrapped).toBe(true);
    expect(device.last_contact_at).not.toBeNull();
    const row = await dmRow(job.deviceId);
    expect(row.device_uri).toBe(`IMEI:${job.externalId}`);
    expect(row.bootstrapped_at).not.toBeNull();
    expect(row.bootstrap_sent_at).not.toBeNull();
    expect((row.state as any).bootstrapped).toBe(true);

    // the waiting workflow got bootstrapConfirmed, and the job's log says so
    expect((await recordedSignals(job.recorder)).map((s) => s.name)).toEqual(['bootstrapConfirmed']);
    const log = await logKeys(job.installationId);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ event: 'info', entry_key: expect.stringMatching(/^dm:bootstrap-confirmed:/) });
    expect(log[0]!.message).toContain('bootstrap confirmed');

    // a later session of the same device is an ordinary one: no second confirmation
    const again = await client.checkIn();
    expect(again).toMatchObject({ headerCodes: [212, 200], outcome: 'completed' });
    expect((await recordedSignals(job.recorder)).map((s) => s.name)).toEqual(['bootstrapConfirmed']);
  });

  it('keeps the credentials encrypted at rest and out of the stored state', async () => {
    const sw = await uploadSoftware();
    const job = await newJob(sw.id);
    const client = newClient(job, { sessionAfterBootstrap: false });
    await bootstrapped(job, client);
    const acc = client.account!;
    const raw = JSON.stringify(await dmRow(job.deviceId));
    expect(raw).not.toContain(acc.clientPassword);
    expect(raw).not.toContain(acc.serverPassword);
    expect(raw).toContain(acc.clientNonce);
    const row = await dmRow(job.deviceId);
    expect(row.client_secret).toMatch(/^v1\./);
    const box = await dmSecretBox({ secretKey: stack.config.dm.secretKey, dataDir: stack.config.dataDir });
    const rec = recordFromRow(row, box);
    expect(rec.state.account.clientPassword).toBe(acc.clientPassword);
    expect(rec.state.account.serverPassword).toBe(acc.serverPassword);
    expect(rec.clientUsername).toBe(acc.clientUsername);
  });

  it('a retried bootstrap (same key) re-sends nothing and keeps the account; a new bootstrap replaces it', async () => {
    const sw = await uploadSoftware();
    const job = await newJob(sw.id);
    const client = newClient(job, { sessionAfterBootstrap: false });
    await bootstrapped(job, client);
    const first = client.account!;
    const before = await dmRow(job.deviceId);
    await engine.bootstrap({
      idempotencyKey: `${job.installationId}:bootstrap`,
      installationId: job.installationId,
      deviceId: job.deviceId,
    });
    expect(await job.inbox.poll()).toEqual([]);
    const after = await dmRow(job.deviceId);
    expect(after.client_secret).toBe(before.client_secret);
    expect(after.state).toEqual(before.state);

    await engine.bootstrap({
      idempotencyKey: `${job.installationId}:bootstrap:again`,
      installationId: job.installationId,
      deviceId: job.deviceId,
    });
    await job.inbox.deliverNext(client);
    expect(client.account!.clientUsername).toBe(first.clientUsername);
    expect(client.account!.clientPassword).not.toBe(first.clientPassword);
    expect((await stack.db('devices').where({ id: job.deviceId }).first()).bootstrapped).toBe(false);
    expect((await client.checkIn()).headerCodes).toEqual([212, 200]);
    expect((await stack.db('devices').where({ id: job.deviceId }).first()).bootstrapped).toBe(true);
  });

  it('refuses a device without MSISDN, without retrying', async () => {
    const [device] = await stack
      .db('devices')
      .insert({ external_id: `no-msisdn-${randomUUID()}`, platform: 'symbian', token_hash: randomUUID() })
      .returning('id');
    await expect(
      engine.bootstrap({ idempotencyKey: `x:${device.id}`, installationId: randomUUID(), deviceId: device.id }),
    ).rejects.toMatchObject({
      nonRetryable: true,
      type: 'NoMsisdn',
    });
    expect(await stack.db('dm_devices').where({ device_id: device.id })).toEqual([]);
  });
});

describe('authentication (syncml:auth-md5)', () => {
  it('challenges a message without credentials (407 + NextNonce) and accepts the digest over that nonce (212)', async () => {
    const sw = await uploadSoftware();
    const job = await newJob(sw.id);
    const client = newClient(job, { noCredentialsFirst: true });
    await bootstrapped(job, client);
    expect(client.sessions[0]).toMatchObject({ headerCodes: [407, 212, 200], outcome: 'completed' });
    expect((await stack.db('devices').where({ id: job.deviceId }).first()).bootstrapped).toBe(true);
    // the 212 carried the nonce of the next session: used without a challenge when sent with credentials
    client.knobs.noCredentialsFirst = false;
    expect((await client.checkIn()).headerCodes).toEqual([212, 200]);
    // a stale nonce is challenged again, then accepted
    client.account!.clientNonce = Buffer.from('stale').toString('base64');
    expect((await client.checkIn()).headerCodes).toEqual([407, 212, 200]);
  });

  it('wrong credentials: 407, 407, then 401; nothing is confirmed and the waiting job logs the refusal', async () => {
    const sw = await uploadSoftware();
    const job = await newJob(sw.id);
    const client = newClient(job, { wrongPassword: true });
    await bootstrapped(job, client);
    expect(client.sessions[0]).toMatchObject({ headerCodes: [407, 407, 401], outcome: 'auth-failed' });
    expect((await stack.db('devices').where({ id: job.deviceId }).first()).bootstrapped).toBe(false);
    const row = await dmRow(job.deviceId);
    expect(row.bootstrapped_at).toBeNull();
    expect(row.device_uri).toBeNull();
    expect(await recordedSignals(job.recorder)).toEqual([]);
    const log = await logKeys(job.installationId);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ event: 'error', entry_key: expect.stringMatching(/^dm:auth-failed:/) });
    expect(log[0]!.message).toMatch(/failed to authenticate 3 times.*401/);

    // the refusal is per session: the right password works in the next one
    client.knobs.wrongPassword = false;
    expect((await client.checkIn()).headerCodes).toEqual([212, 200]);
    expect((await recordedSignals(job.recorder)).map((s) => s.name)).toEqual(['bootstrapConfirmed']);
  });

  it('authenticates by HMAC (x-syncml-hmac over the raw body) when the account uses it, and signs the reply', async () => {
    const sw = await uploadSoftware();
    const job = await newJob(sw.id);
    const client = newClient(job, { sessionAfterBootstrap: false });
    await bootstrapped(job, client);
    const acc = client.account!;
    await stack
      .db('dm_devices')
      .where({ device_id: job.deviceId })
      .update({ state: stack.db.raw(`jsonb_set(state, '{account,authScheme}', '"hmac"')`) });
    const message = (msgId: string) =>
      serializeSyncML({
        header: {
          verDTD: '1.2',
          verProto: 'DM/1.2',
          sessionId: '9',
          msgId,
          target: { locURI: acc.address },
          source: { locURI: `IMEI:${job.externalId}` }, // no LocName: the HMAC header names the account
        },
        commands: [{ cmd: 'Alert', cmdId: '1', code: 1201, items: [] }],
        final: true,
      });
    const post = (body: string, password: string, nonce: string) =>
      fetch(`${stack.baseUrl}/dm`, {
        method: 'POST',
        headers: {
          'content-type': SYNCML_DM_XML_CONTENT_TYPE,
          'x-syncml-hmac': formatHmacHeader({
            username: acc.clientUsername,
            mac: computeHmacMac({ username: acc.clientUsername, password, nonce: decodeNonce(nonce), body }),
          }),
        },
        body,
      });
    const bad = await post(message('1'), 'wrong', acc.clientNonce);
    const badXml = await bad.text();
    expect(badXml).toContain('<Data>407</Data>');
    const nonce = /<NextNonce[^>]*>([^<]+)<\/NextNonce>/.exec(badXml)?.[1];
    expect(nonce).toBeDefined();
    const body = message('2');
    const good = await post(body, acc.clientPassword, nonce!);
    const goodXml = await good.text();
    expect(goodXml).toContain('<Data>212</Data>');
    expect(good.headers.get('x-syncml-hmac')).toMatch(/^algorithm=MD5, username="devicerollout", mac=/);
    expect((await stack.db('devices').where({ id: job.deviceId }).first()).bootstrapped).toBe(true);
  });

  it('answers unknown devices like wrong credentials and stores nothing', async () => {
    const before = await stack.db('dm_devices').count<{ count: string }[]>('* as count');
    const client = new SimulatedDmClient({ deviceUri: `IMEI:${Date.now()}`, rewriteUrl: toLoopback });
    client.account = {
      serverId: 'devicerollout',
      address: `${stack.config.publicUrl}/dm`,
      clientUsername: `nobody-${randomUUID()}`,
      clientPassword: 'guess',
      clientNonce: Buffer.from('n').toString('base64'),
      serverUsername: 'devicerollout',
      serverPassword: 'x',
      serverNonce: '',
    };
    expect(await client.checkIn()).toMatchObject({ headerCodes: [407, 407, 401], outcome: 'auth-failed' });
    const after = await stack.db('dm_devices').count<{ count: string }[]>('* as count');
    expect(after[0]!.count).toBe(before[0]!.count);
  });
});

describe('SCOMO install (M1)', () => {
  async function installed(knobs: ConstructorParameters<typeof SimulatedDmClient>[0]['knobs'] = {}) {
    const sw = await uploadSoftware();
    const job = await newJob(sw.id);
    const client = newClient(job, knobs);
    await bootstrapped(job, client);
    await stack.db('installations').where({ id: job.installationId }).update({ status: STATUS.installingSoftware });
    const packageUrl = await packageTicket(job, sw.files[0]!.id);
    const req = {
      idempotencyKey: `${job.installationId}:dm-install`,
      installationId: job.installationId,
      deviceId: job.deviceId,
      packageUrl,
      softwareName: sw.name,
      version: sw.version,
    };
    await engine.install(req);
    const trigger = await job.inbox.next({ timeoutMs: 10_000 });
    return { sw, job, client, trigger, req, packageUrl };
  }

  it('triggers the device (Package #0), installs in its session and reports the Generic Alert result', async () => {
    const { sw, job, client, trigger, req, packageUrl } = await installed();

    // Package #0: our server id, a digest the device can check with what the bootstrap gave it
    expect(trigger.contentType).toBe(NOTIFICATION_CONTENT_TYPE);
    expect(trigger.applicationId).toBe('x-wap-application:syncml.dm');
    const note = parseNotification(trigger.body);
    expect(note.trigger).toMatchObject({ serverId: 'devicerollout', initiator: 'server', uiMode: 'background', version: 12 });
    const acc = client.account!;
    expect(verifyNotification(trigger.body, { password: acc.serverPassword, nonce: decodeNonce(acc.serverNonce) })).toBe(true);

    await client.receivePush(trigger);
    expect(client.events.map((e) => e.type)).toEqual([
      'bootstrap-applied',
      'session',
      'trigger-accepted',
      'session',
      'download',
      'session',
      'install-reported',
    ]);
    const [, installSession, reportSession] = client.sessions;
    expect(installSession).toMatchObject({
      initiation: 'server',
      sessionId: String(note.trigger.sessionId),
      outcome: 'completed',
    });
    const base = `./SCOMO/Download/${job.installationId}`;
    expect(installSession!.commands).toEqual([
      { cmd: 'Add', target: base, status: 200 },
      { cmd: 'Add', target: `${base}/PkgID`, status: 200 },
      { cmd: 'Add', target: `${base}/Name`, status: 200 },
      { cmd: 'Add', target: `${base}/PkgURL`, status: 200 },
      { cmd: 'Add', target: `${base}/Description`, status: 200 },
      { cmd: 'Exec', target: `${base}/Operations/DownloadInstall`, status: 202 },
    ]);
    expect(client.tree.get(`${base}/PkgURL`)).toBe(packageUrl);
    expect(client.events.find((e) => e.type === 'download')).toMatchObject({
      status: 200,
      ok: true,
      sha256: sw.sha256,
      bytes: sw.data.length,
    });
    expect(reportSession).toMatchObject({ initiation: 'client', outcome: 'completed', headerCodes: [212, 200] });
    expect(client.events.at(-1)).toEqual({
      type: 'install-reported',
      correlator: job.installationId,
      pkgId: job.installationId,
      code: 1200,
    });

    // the workflow got the result; the job's log has the DM steps
    const sig = await recordedSignals(job.recorder);
    expect(sig.map((s) => s.name)).toEqual(['bootstrapConfirmed', 'dmInstallResult']);
    expect(sig[1]!.arg).toEqual({ success: true, code: 1200, detail: 'SCOMO OperationComplete result code 1200 (Successful)' });
    const keys = (await logKeys(job.installationId)).map((l) => l.entry_key);
    expect(keys.slice(1)).toEqual([`dm:accepted:${job.installationId}`, `dm:result:${job.installationId}:1200`]);
    // the DM package link was fetched (attempt 0 is only marked: the DM result is the signal)
    const ticket = await stack.db('push_tickets').where({ installation_id: job.installationId, attempt: 0 }).first();
    expect(ticket.downloaded_at).not.toBeNull();
    expect(((await dmRow(job.deviceId)).state as any).install).toMatchObject({ stage: 'completed', resultCode: 1200 });

    // a retried install activity (same key): no second trigger, no second install
    await engine.install(req);
    expect(await job.inbox.poll()).toEqual([]);
    expect(((await dmRow(job.deviceId)).state as any).install).toMatchObject({ stage: 'completed', resultCode: 1200 });
    expect(await client.checkIn()).toMatchObject({
      commands: [{ cmd: 'Get', status: 200, target: './DevInfo/DevId' }],
      outcome: 'completed',
    });
    expect((await recordedSignals(job.recorder)).map((s) => s.name)).toEqual(['bootstrapConfirmed', 'dmInstallResult']);
  });

  it('reports a failed install (SCOMO 1405) as dmInstallResult success=false', async () => {
    const { job, client, trigger } = await installed({ failInstall: true });
    await client.receivePush(trigger);
    expect(client.events.at(-1)).toMatchObject({ type: 'install-reported', code: 1405 });
    const sig = await recordedSignals(job.recorder);
    expect(sig.at(-1)).toEqual({
      name: 'dmInstallResult',
      arg: { success: false, code: 1405, detail: 'SCOMO OperationComplete result code 1405 (Install failed)' },
    });
    const log = await logKeys(job.installationId);
    expect(log.at(-1)).toMatchObject({ event: 'error', entry_key: `dm:result:${job.installationId}:1405` });
  });

  it('a device that cannot download reports 1402 (download failed)', async () => {
    const { job, client, trigger } = await installed();
    await stack.db('push_tickets').where({ installation_id: job.installationId }).update({ revoked_at: stack.db.fn.now() });
    await client.receivePush(trigger);
    expect(client.events.find((e) => e.type === 'download')).toMatchObject({ status: 410, ok: false });
    expect((await recordedSignals(job.recorder)).at(-1)!.arg).toMatchObject({ success: false, code: 1402 });
  });

  it('a device that ignores the trigger leaves the job pending; its next session resumes the install', async () => {
    const { job, client, trigger } = await installed();
    client.knobs.neverAnswer = true;
    await client.receivePush(trigger);
    expect(client.events.at(-1)).toMatchObject({ type: 'trigger-accepted' });
    expect(((await dmRow(job.deviceId)).state as any).install.stage).toBe('pending');
    expect((await recordedSignals(job.recorder)).map((s) => s.name)).toEqual(['bootstrapConfirmed']);
    client.knobs.neverAnswer = false;
    await client.checkIn();
    expect((await recordedSignals(job.recorder)).at(-1)).toMatchObject({
      name: 'dmInstallResult',
      arg: { success: true, code: 1200 },
    });
  });

  it('drops a queued install the workflow gave up on (fallback): the device does not install it later', async () => {
    const { job, client, trigger } = await installed();
    client.knobs.neverAnswer = true;
    await client.receivePush(trigger);
    await stack
      .db('installations')
      .where({ id: job.installationId })
      .update({ status: STATUS.waitingForDownload, method: 'sms' });
    client.knobs.neverAnswer = false;
    expect(await client.checkIn()).toMatchObject({
      commands: [{ cmd: 'Get', status: 200, target: './DevInfo/DevId' }],
      outcome: 'completed',
    });
    expect(client.events.some((e) => e.type === 'download')).toBe(false);
    expect((await dmRow(job.deviceId)).state).not.toHaveProperty('install');
    expect((await recordedSignals(job.recorder)).map((s) => s.name)).toEqual(['bootstrapConfirmed']);
  });

  it('serves the messages of one session from two API instances (state in Postgres)', async () => {
    let i = 0;
    const ports = [new URL(stack.baseUrl).port, new URL(second.baseUrl).port];
    const used = new Set<string>();
    const alternating: typeof fetch = (input, init) => {
      const u = new URL(String(input));
      if (u.pathname === '/dm') {
        u.port = ports[i++ % 2]!;
        used.add(u.port);
      }
      return fetch(u.toString(), init);
    };
    const sw = await uploadSoftware();
    const job = await newJob(sw.id);
    const client = newClient(job, {}, alternating);
    await bootstrapped(job, client);
    await stack.db('installations').where({ id: job.installationId }).update({ status: STATUS.installingSoftware });
    const packageUrl = await packageTicket(job, sw.files[0]!.id);
    await engine.install({
      idempotencyKey: `${job.installationId}:dm-install`,
      installationId: job.installationId,
      deviceId: job.deviceId,
      packageUrl,
      softwareName: sw.name,
      version: sw.version,
    });
    await job.inbox.deliverNext(client);
    expect(used.size).toBe(2);
    expect(client.sessions.every((s) => s.outcome === 'completed')).toBe(true);
    expect((await recordedSignals(job.recorder)).at(-1)).toMatchObject({ name: 'dmInstallResult', arg: { success: true } });
  });
});

describe('HTTP', () => {
  it('serializes concurrent copies of one message: both get the identical reply', async () => {
    const sw = await uploadSoftware();
    const job = await newJob(sw.id);
    const client = newClient(job, { sessionAfterBootstrap: false });
    await bootstrapped(job, client);
    const acc = client.account!;
    const xml = serializeSyncML({
      header: {
        verDTD: '1.2',
        verProto: 'DM/1.2',
        sessionId: '77',
        msgId: '1',
        target: { locURI: acc.address },
        source: { locURI: `IMEI:${job.externalId}`, locName: acc.clientUsername },
        cred: {
          meta: { type: 'syncml:auth-md5', format: 'b64' },
          data: computeMd5Digest(acc.clientUsername, acc.clientPassword, decodeNonce(acc.clientNonce)),
        },
      },
      commands: [{ cmd: 'Alert', cmdId: '1', code: 1201, items: [] }],
      final: true,
    });
    const post = () =>
      fetch(`${stack.baseUrl}/dm`, { method: 'POST', headers: { 'content-type': SYNCML_DM_XML_CONTENT_TYPE }, body: xml });
    const [a, b] = await Promise.all([post(), post()]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const [ta, tb] = await Promise.all([a.text(), b.text()]);
    expect(ta).toBe(tb);
    expect(ta).toContain('<Data>212</Data>');
    expect(a.headers.get('content-type')).toMatch(/^application\/vnd\.syncml\.dm\+xml/);
    expect((await recordedSignals(job.recorder)).map((s) => s.name)).toEqual(['bootstrapConfirmed']);
  });

  it('a signal that cannot be delivered rolls the message back (503); the retransmission succeeds', async () => {
    const calls: string[] = [];
    let failures = 1;
    const signaller: Signaller = {
      async signal(_workflowId, def, ..._args) {
        calls.push(def.name);
        if (failures-- > 0) throw new ApiError(503, 'temporal_unavailable', 'the workflow service is unavailable; retry later');
        return 'sent';
      },
    };
    const app = express();
    app.use('/dm', dmRoutes({ db: stack.db, temporal: stack.client, config: stack.config, log: () => {} }, { signaller }));
    app.use(errorHandler(() => {}));
    const server = await new Promise<Server>((resolve) => {
      const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
    });
    try {
      const port = String((server.address() as { port: number }).port);
      const statuses: number[] = [];
      const viaDouble: typeof fetch = async (input, init) => {
        const u = new URL(String(input));
        if (u.pathname === '/dm') u.port = port;
        const res = await fetch(u.toString(), init);
        if (u.pathname === '/dm') statuses.push(res.status);
        return res;
      };
      const sw = await uploadSoftware();
      const job = await newJob(sw.id);
      const client = newClient(job, {}, viaDouble);
      await bootstrapped(job, client);
      expect(statuses).toEqual([503, 200, 200]);
      expect(calls).toEqual(['bootstrapConfirmed', 'bootstrapConfirmed']);
      expect(client.sessions[0]).toMatchObject({ headerCodes: [212, 200], outcome: 'completed' });
      expect((await stack.db('devices').where({ id: job.deviceId }).first()).bootstrapped).toBe(true);
      expect((await logKeys(job.installationId)).map((l) => l.event)).toEqual(['info']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('answers non-SyncML requests with JSON errors and needs no bearer token', async () => {
    const post = (body: string | Uint8Array, type: string) =>
      fetch(`${stack.baseUrl}/dm`, { method: 'POST', headers: { 'content-type': type }, body });
    const truncated = await post(Buffer.from([0x02, 0xa4, 0x01, 0x6a]), SYNCML_DM_WBXML_CONTENT_TYPE);
    expect(truncated.status).toBe(400);
    expect(((await truncated.json()) as any).error.message).toMatch(/WBXML/);
    // WBXML in, WBXML out: an unknown device gets the same 407 challenge as in XML
    const hello = encodeSyncMLWbxml({
      header: {
        verDTD: '1.2',
        verProto: 'DM/1.2',
        sessionId: '7',
        msgId: '1',
        target: { locURI: `${stack.baseUrl}/dm` },
        source: { locURI: 'IMEI:000000000000001', locName: 'nobody' },
        meta: { maxMsgSize: 2048 },
      },
      commands: [{ cmd: 'Alert', cmdId: '1', code: 1201, items: [] }],
      final: true,
    });
    const challenged = await post(hello, `${SYNCML_DM_WBXML_CONTENT_TYPE}; charset=utf-8`);
    expect(challenged.status).toBe(200);
    expect(challenged.headers.get('content-type')).toBe(SYNCML_DM_WBXML_CONTENT_TYPE);
    const reply = decodeSyncMLWbxml(Buffer.from(await challenged.arrayBuffer()));
    expect(reply.commands[0]).toMatchObject({ cmd: 'Status', cmdRef: '0', code: 407 });
    expect(reply.commands[0]?.cmd === 'Status' && reply.commands[0].chal?.meta.nextNonce).toBeTruthy();
    const other = await post('<SyncML/>', 'text/plain');
    expect(other.status).toBe(415);
    expect(((await other.json()) as any).error.message).toContain(SYNCML_DM_WBXML_CONTENT_TYPE);
    const malformed = await post('<SyncML><SyncHdr>', SYNCML_DM_XML_CONTENT_TYPE);
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as any).error.code).toBe('invalid_request');
    expect((await post('', SYNCML_DM_XML_CONTENT_TYPE)).status).toBe(400);
    const big = await post(`<SyncML>${'x'.repeat(40 * 1024)}</SyncML>`, SYNCML_DM_XML_CONTENT_TYPE);
    expect(big.status).toBe(413);
    const get = await fetch(`${stack.baseUrl}/dm`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });
});
