/**
 * The install workflow's activities against real PostgreSQL (startStack: own database, dev server,
 * worker): idempotent transitions, tickets, the recording push channel — and one install workflow run
 * through the real worker with these activities.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInstallActivities, type LogEvent } from '../../activities/install';
import type { DmEngine } from '../../domain/ports';
import * as SA from '../../domain/search-attributes';
import { STATUS } from '../../domain/status';
import { PushGatewayError } from '../../infra/channels/errors';
import { createRecordingChannel, recordedMessages } from '../../infra/channels/recording';
import { createDb } from '../../infra/db';
import { ServiceError } from '../../services/errors';
import { recordTransition } from '../../services/installations/log';
import { installWorkflow } from '../../workflows/install';
import {
  downloadedSignal,
  type InstallInput,
  installStatusQuery,
  installWorkflowId,
  sysinfoSyncedSignal,
} from '../../workflows/messages';
import { type Stack, startStack } from '../helpers/stack';

const DAY = 86_400_000;

describe('install activities on PostgreSQL', () => {
  let stack: Stack;
  let acts: ReturnType<typeof createInstallActivities>;
  const dmCalls: unknown[] = [];
  const dm: DmEngine = {
    async bootstrap(req) {
      dmCalls.push({ bootstrap: req });
    },
    async install(req) {
      dmCalls.push({ install: req });
    },
  };

  beforeAll(async () => {
    stack = await startStack();
    acts = createInstallActivities({ db: stack.db, config: stack.config, dm });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  let n = 0;
  /** A device, a software with files, a rollout and one installation job. */
  async function fixture(
    opts: {
      platform?: string;
      msisdn?: string | null;
      installed?: Record<string, string>;
      inHouseIos?: boolean;
      kind?: 'dme-client' | 'other';
      formats?: string[];
    } = {},
  ) {
    n++;
    const db = stack.db;
    const [device] = await db('devices')
      .insert({
        external_id: `IMEI-${n}-${randomUUID()}`,
        platform: opts.platform ?? 'symbian',
        msisdn: opts.msisdn === undefined ? '+4915100000001' : opts.msisdn,
        installed: JSON.stringify(opts.installed ?? { 'DME Client': '4.1' }),
        token_hash: randomUUID(),
      })
      .returning('*');
    const [software] = await db('software')
      .insert({
        name: 'DME Client',
        version: `4.2.${n}`,
        kind: opts.kind ?? 'dme-client',
        platforms: [opts.platform ?? 'symbian'],
        in_house_ios: !!opts.inHouseIos,
        bundle_id: opts.inHouseIos ? 'com.example.app' : null,
      })
      .returning('*');
    const files = [];
    for (const format of opts.formats ?? ['sisx']) {
      const [f] = await db('software_files')
        .insert({
          software_id: software.id,
          file_name: `client.${format}`,
          format,
          size: 3,
          sha256: 'x'.repeat(64),
          storage_path: `/tmp/${randomUUID()}`,
        })
        .returning('*');
      files.push(f);
    }
    const [rollout] = await db('rollouts')
      .insert({ software_id: software.id, options: JSON.stringify({ useDm: false, push: 'sms' }), schedule: JSON.stringify({}) })
      .returning('*');
    const [installation] = await db('installations')
      .insert({ rollout_id: rollout.id, device_id: device.id, seq: 0 })
      .returning('*');
    return { device, software, files, rollout, installation, file: files[0] };
  }

  const logOf = (installationId: string) =>
    stack
      .db('installation_log')
      .where({ installation_id: installationId })
      .orderBy('id')
      .select('event', 'from_status', 'to_status', 'message', 'entry_key');

  it('loadInstallContext: the device, its inventory, the software and its files', async () => {
    const f = await fixture({
      platform: 'windows-mobile-smartphone',
      formats: ['cab', 'exe'],
      installed: { 'DME Client': '4.1' },
    });
    const ctx = await acts.loadInstallContext({
      installationId: f.installation.id,
      deviceId: f.device.id,
      softwareId: f.software.id,
    });
    expect(ctx.device).toMatchObject({
      id: f.device.id,
      platform: 'windows-mobile-smartphone',
      msisdn: '+4915100000001',
      bootstrapped: false,
      installed: { 'DME Client': '4.1' },
    });
    expect(ctx.software).toMatchObject({
      name: 'DME Client',
      kind: 'dme-client',
      inHouseIos: false,
      platforms: ['windows-mobile-smartphone'],
    });
    expect(ctx.software.files.map((x) => x.format).sort()).toEqual(['cab', 'exe']);
    expect(ctx.dmConfigured).toBe(true);
  });

  it('loadInstallContext: an unknown installation is a non-retryable failure', async () => {
    const err = await acts
      .loadInstallContext({ installationId: randomUUID(), deviceId: randomUUID(), softwareId: randomUUID() })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.nonRetryable).toBe(true);
    expect(err.type).toBe('InstallationNotFound');
  });

  it('loadInstallContext: the files oldest first, formats in lower case; a job of another device, an unknown software: non-retryable failures as before', async () => {
    const f = await fixture({ formats: ['SISX', 'sis'] });
    const ids = { installationId: f.installation.id, deviceId: f.device.id, softwareId: f.software.id };
    const ctx = await acts.loadInstallContext(ids);
    expect(ctx.software.files).toEqual(f.files.map((x) => ({ id: x.id, format: x.format.toLowerCase() })));
    expect(ctx.installation).toEqual({
      id: f.installation.id,
      rolloutId: f.rollout.id,
      deviceId: f.device.id,
      status: null,
      final: false,
    });
    expect(ctx.software).toMatchObject({ id: f.software.id, version: f.software.version, bundleId: null });
    const failure = (input: typeof ids) => acts.loadInstallContext(input).catch((e) => e);
    const other = await fixture();
    const mismatch = await failure({ ...ids, deviceId: other.device.id });
    expect(mismatch).toBeInstanceOf(ApplicationFailure);
    expect([mismatch.type, mismatch.nonRetryable]).toEqual(['InstallationMismatch', true]);
    const noSoftware = await failure({ ...ids, softwareId: randomUUID() });
    expect([noSoftware.type, noSoftware.nonRetryable]).toEqual(['SoftwareNotFound', true]);
    // a job's device cannot be missing (foreign key): an unknown device id is a job of another device
    const noDevice = await failure({ ...ids, deviceId: randomUUID() });
    expect([noDevice.type, noDevice.nonRetryable]).toEqual(['InstallationMismatch', true]);
    // software without files: an empty list
    await stack.db('software_files').where({ software_id: f.software.id }).delete();
    expect((await acts.loadInstallContext(ids)).software.files).toEqual([]);
  });

  it('recordInstallTransition: called twice (a retry) writes the log once and the row once', async () => {
    const { installation } = await fixture();
    const input = {
      installationId: installation.id,
      seq: 1,
      workflowId: 'install/x/y',
      notes: [{ event: 'push' as const, message: 'SMS push 1 of 3 sent' }],
      status: { from: null, to: STATUS.waitingForDownload, final: false },
      method: 'sms' as const,
      detail: 'SMS push 1 of 3',
      fileId: null,
    };
    expect(await acts.recordInstallTransition(input)).toEqual({ written: true });
    const row1 = await stack.db('installations').where({ id: installation.id }).first();
    expect(await acts.recordInstallTransition(input)).toEqual({ written: false });
    expect(await logOf(installation.id)).toEqual([
      { event: 'push', from_status: null, to_status: null, message: 'SMS push 1 of 3 sent', entry_key: '1.0:push' },
      {
        event: 'status',
        from_status: null,
        to_status: STATUS.waitingForDownload,
        message: null,
        entry_key: `1:${STATUS.waitingForDownload}`,
      },
    ]);
    const row2 = await stack.db('installations').where({ id: installation.id }).first();
    expect(row2).toMatchObject({
      status: STATUS.waitingForDownload,
      final: false,
      method: 'sms',
      detail: 'SMS push 1 of 3',
      workflow_id: 'install/x/y',
    });
    expect(row2.started_at).toEqual(row1.started_at);
    expect(row2.updated_at).toEqual(row1.updated_at);
    expect(row2.ended_at).toBeNull();
  });

  it('recordInstallTransition: a late stale attempt cannot overwrite a newer status; final sets ended_at', async () => {
    const { installation } = await fixture();
    const first = {
      installationId: installation.id,
      seq: 1,
      status: { from: null, to: STATUS.waitingForDownload, final: false },
      method: 'sms' as const,
    };
    await acts.recordInstallTransition(first);
    await acts.recordInstallTransition({
      installationId: installation.id,
      seq: 2,
      status: { from: STATUS.waitingForDownload, to: STATUS.downloaded, final: true, message: 'downloaded' },
      method: 'sms',
      detail: 'downloaded',
    });
    expect(await acts.recordInstallTransition(first)).toEqual({ written: false });
    const row = await stack.db('installations').where({ id: installation.id }).first();
    expect(row).toMatchObject({ status: STATUS.downloaded, final: true, detail: 'downloaded' });
    expect(row.ended_at).toBeInstanceOf(Date);
    expect(row.started_at.getTime()).toBeLessThanOrEqual(row.ended_at.getTime());
    expect((await logOf(installation.id)).map((l) => l.entry_key)).toEqual([
      `1:${STATUS.waitingForDownload}`,
      `2:${STATUS.downloaded}`,
    ]);
  });

  it('recordInstallTransition: a job that does not exist is InstallationNotFound, with or without log rows; nothing written', async () => {
    const installationId = randomUUID();
    for (const input of [
      { installationId, seq: 1, status: { from: null, to: STATUS.waitingForDownload, final: false } },
      { installationId, seq: 2, detail: 'details only' },
      { installationId, seq: 3, notes: [{ event: 'info' as const, message: 'x' }], revokeTickets: true },
    ]) {
      const err = await acts.recordInstallTransition(input).catch((e) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect([err.type, err.nonRetryable]).toEqual(['InstallationNotFound', true]);
      // the service says not-found
      const inner = await recordTransition(stack.db, input).catch((e) => e);
      expect(inner).toBeInstanceOf(ServiceError);
      expect(inner.kind).toBe('not-found');
    }
    expect(await stack.db('installation_log').where({ installation_id: installationId })).toEqual([]);
  });

  it('recordInstallTransition: the log rows in their order (notes, then the status); a transition without rows updates the job row', async () => {
    const { installation } = await fixture();
    const notes = ['fallback', 'push', 'retry', 'error', 'report', 'info', 'push', 'info'].map((event, i) => ({
      event: event as LogEvent,
      message: `note ${i}`,
    }));
    expect(
      await acts.recordInstallTransition({
        installationId: installation.id,
        seq: 4,
        notes,
        status: { from: null, to: STATUS.waitingForDownload, final: false, message: 'pushed' },
        method: 'sms',
      }),
    ).toEqual({ written: true });
    const log = await logOf(installation.id);
    expect(log.map((l) => [l.event, l.message, l.entry_key])).toEqual([
      ...notes.map((n, i) => [n.event, n.message, `4.${i}:${n.event}`]),
      ['status', 'pushed', `4:${STATUS.waitingForDownload}`],
    ]);
    expect(log.at(-1)).toMatchObject({ from_status: null, to_status: STATUS.waitingForDownload });
    // the API's order (at, id) is the same
    const byTime = await stack
      .db('installation_log')
      .where({ installation_id: installation.id })
      .orderBy([{ column: 'at' }, { column: 'id' }])
      .pluck('entry_key');
    expect(byTime).toEqual(log.map((l) => l.entry_key));

    // no log rows: only the job row (details, method, file), each time it is asked
    for (const detail of ['waiting', null]) {
      expect(await acts.recordInstallTransition({ installationId: installation.id, seq: 5, detail, method: null })).toEqual({
        written: true,
      });
      expect(await stack.db('installations').where({ id: installation.id }).first()).toMatchObject({
        status: STATUS.waitingForDownload,
        method: null,
        detail,
        final: false,
        ended_at: null,
      });
    }
    expect(await logOf(installation.id)).toHaveLength(notes.length + 1);
    // a transition that leaves out method and detail keeps them
    await acts.recordInstallTransition({ installationId: installation.id, seq: 6, method: 'wap', detail: 'kept' });
    await acts.recordInstallTransition({ installationId: installation.id, seq: 7, workflowId: 'install/a/b' });
    expect(await stack.db('installations').where({ id: installation.id }).first()).toMatchObject({
      method: 'wap',
      detail: 'kept',
      workflow_id: 'install/a/b',
    });
  });

  it('recordInstallTransition with revokeTickets: the live links revoked, "N download links revoked" after the notes and before the status, once', async () => {
    const { installation, file, software } = await fixture();
    for (const attempt of [1, 2]) {
      await acts.pushDownloadLink({
        installationId: installation.id,
        attempt,
        method: 'mark',
        fileId: file.id,
        ticketLifetimeMs: DAY,
        softwareName: software.name,
        softwareVersion: software.version,
        inHouseIos: false,
      });
    }
    await acts.recordInstallTransition({
      installationId: installation.id,
      seq: 1,
      status: { from: null, to: STATUS.waitingForDownload, final: false },
      method: 'mark',
      fileId: file.id,
    });
    const final = {
      installationId: installation.id,
      seq: 2,
      notes: [{ event: 'error' as const, message: 'ticket expired' }],
      status: { from: STATUS.waitingForDownload, to: STATUS.installationFailed, final: true, message: 'ticket expired' },
      method: 'mark' as const,
      detail: 'ticket expired',
      fileId: file.id,
      revokeTickets: true,
    };
    expect(await acts.recordInstallTransition(final)).toEqual({ written: true, revoked: 2 });
    // a retry: nothing revoked, nothing written
    expect(await acts.recordInstallTransition(final)).toEqual({ written: false, revoked: 0 });
    expect((await logOf(installation.id)).map((l) => [l.event, l.message, l.entry_key])).toEqual([
      ['status', null, `1:${STATUS.waitingForDownload}`],
      ['error', 'ticket expired', '2.0:error'],
      ['info', '2 download links revoked', '2.1:info'],
      ['status', 'ticket expired', `2:${STATUS.installationFailed}`],
    ]);
    const tickets = await stack.db('push_tickets').where({ installation_id: installation.id });
    expect(tickets.map((t) => t.revoked_at instanceof Date)).toEqual([true, true]);
    expect(await stack.db('installations').where({ id: installation.id }).first()).toMatchObject({
      status: STATUS.installationFailed,
      final: true,
      file_id: file.id,
    });

    // one link: "1 download link revoked"; none: no note
    const one = await fixture();
    await acts.pushDownloadLink({
      installationId: one.installation.id,
      attempt: 1,
      method: 'mark',
      fileId: one.file.id,
      ticketLifetimeMs: DAY,
      softwareName: one.software.name,
      softwareVersion: one.software.version,
      inHouseIos: false,
    });
    const cancel = (id: string) => ({
      installationId: id,
      seq: 1,
      status: { from: null, to: STATUS.cancelled, final: true, message: 'the rollout was cancelled' },
      revokeTickets: true,
    });
    expect(await acts.recordInstallTransition(cancel(one.installation.id))).toEqual({ written: true, revoked: 1 });
    expect((await logOf(one.installation.id)).map((l) => l.message)).toEqual([
      '1 download link revoked',
      'the rollout was cancelled',
    ]);
    const none = await fixture();
    expect(await acts.recordInstallTransition(cancel(none.installation.id))).toEqual({ written: true, revoked: 0 });
    expect((await logOf(none.installation.id)).map((l) => l.event)).toEqual(['status']);
  });

  it('one SQL statement per database step of an SMS install (load, push with its recorded message, each transition)', async () => {
    const f = await fixture({ installed: { 'DME Client': '4.0' } });
    const db = createDb(stack.config.databaseUrl!);
    const counted = createInstallActivities({ db, config: stack.config, dm });
    const queries: string[] = [];
    db.on('query', (q: { sql: string }) => queries.push(q.sql));
    const step = async (fn: () => Promise<unknown>) => {
      const before = queries.length;
      await fn();
      return queries.length - before;
    };
    const id = f.installation.id;
    try {
      const counts = [
        await step(() => counted.loadInstallContext({ installationId: id, deviceId: f.device.id, softwareId: f.software.id })),
        await step(() =>
          counted.pushDownloadLink({
            installationId: id,
            attempt: 1,
            method: 'sms',
            fileId: f.file.id,
            ticketLifetimeMs: DAY,
            softwareName: f.software.name,
            softwareVersion: f.software.version,
            inHouseIos: false,
            to: '+4915100000001',
          }),
        ),
        await step(() =>
          counted.recordInstallTransition({
            installationId: id,
            seq: 1,
            notes: [
              { event: 'info', message: 'version decision: upgrade' },
              { event: 'push', message: 'SMS push 1 of 3 sent' },
            ],
            status: { from: null, to: STATUS.waitingForDownload, final: false },
            method: 'sms',
            fileId: f.file.id,
          }),
        ),
        await step(() =>
          counted.recordInstallTransition({
            installationId: id,
            seq: 2,
            notes: [{ event: 'info', message: 'downloaded' }],
            status: { from: STATUS.waitingForDownload, to: STATUS.downloadedWaitingForVerification, final: false },
            method: 'sms',
            fileId: f.file.id,
          }),
        ),
        await step(() =>
          counted.recordInstallTransition({
            installationId: id,
            seq: 3,
            notes: [{ event: 'info', message: 'the device reported the version' }],
            status: { from: STATUS.downloadedWaitingForVerification, to: STATUS.downloadedVerified, final: true },
            method: 'sms',
            fileId: f.file.id,
            revokeTickets: true,
          }),
        ),
      ];
      expect(counts).toEqual([1, 2, 1, 1, 1]);
    } finally {
      await db.destroy();
    }
    expect((await logOf(id)).map((l) => l.message).slice(-2)).toEqual(['1 download link revoked', null]);
  });

  it('pushDownloadLink (SMS): the MSISDN of the device at send time, read with the ticket', async () => {
    const { installation, file, software, device } = await fixture();
    await stack.db('devices').where({ id: device.id }).update({ msisdn: '+4915100000077' });
    const input = {
      installationId: installation.id,
      attempt: 1,
      method: 'sms' as const,
      fileId: file.id,
      ticketLifetimeMs: DAY,
      softwareName: software.name,
      softwareVersion: software.version,
      inHouseIos: false,
      to: '+4915100000001',
    };
    await acts.pushDownloadLink(input);
    expect((await recordedMessages(stack.db, { installationId: installation.id })).map((m) => m.recipient)).toEqual([
      '+4915100000077',
    ]);
    // the device has no MSISDN any more: refused for good, the ticket stays the attempt's one
    await stack.db('devices').where({ id: device.id }).update({ msisdn: null });
    const err = await acts.pushDownloadLink({ ...input, attempt: 2 }).catch((e) => e);
    expect([err.type, err.nonRetryable]).toEqual(['NoMsisdn', true]);
    expect(
      await stack.db('push_tickets').where({ installation_id: installation.id }).orderBy('attempt').pluck('attempt'),
    ).toEqual([1, 2]);
  });

  it('pushDownloadLink (SMS): one ticket of 32 random bytes valid one lifetime, one recorded SMS with its link; a retry sends nothing new', async () => {
    const { installation, file, software } = await fixture();
    const input = {
      installationId: installation.id,
      attempt: 1,
      method: 'sms' as const,
      fileId: file.id,
      ticketLifetimeMs: 7 * DAY,
      softwareName: software.name,
      softwareVersion: software.version,
      inHouseIos: false,
      to: '+4915100000001',
    };
    const first = await acts.pushDownloadLink(input);
    expect(first).toMatchObject({
      attempt: 1,
      sent: true,
      channel: 'sms',
      transport: 'recording',
      duplicate: false,
      link: 'file',
    });
    const again = await acts.pushDownloadLink(input);
    expect(again).toMatchObject({ sent: true, duplicate: true, expiresAt: first.expiresAt });

    const tickets = await stack.db('push_tickets').where({ installation_id: installation.id });
    expect(tickets).toHaveLength(1);
    const t = tickets[0];
    expect(t.ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(t.ticket, 'base64url')).toHaveLength(32);
    expect(t.expires_at.getTime() - t.created_at.getTime()).toBe(7 * DAY);
    expect(t).toMatchObject({ attempt: 1, file_id: file.id, revoked_at: null });
    expect(first.expiresAt).toBe(t.expires_at.toISOString());

    const messages = await recordedMessages(stack.db, { installationId: installation.id });
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      channel: 'sms',
      recipient: '+4915100000001',
      idempotencyKey: `${installation.id}:push:1`,
      body: `Install DME Client ${software.version}: ${stack.config.publicUrl}/d/${t.ticket}`,
    });

    // the next attempt gets a new ticket and a new message
    await acts.pushDownloadLink({ ...input, attempt: 2 });
    const two = await stack.db('push_tickets').where({ installation_id: installation.id }).orderBy('attempt');
    expect(two.map((x) => x.attempt)).toEqual([1, 2]);
    expect(two[1].ticket).not.toBe(t.ticket);
    expect(await recordedMessages(stack.db, { installationId: installation.id })).toHaveLength(2);
  });

  it('pushDownloadLink while the SMS gateway is down: each failed send attempt of the workflow is one log row; one ticket (issue 13 item 7)', async () => {
    const { installation, file, software } = await fixture();
    const recording = createRecordingChannel(stack.db);
    let down = true;
    const flaky = createInstallActivities({
      db: stack.db,
      config: stack.config,
      push: {
        sendSms: (m) =>
          down
            ? Promise.reject(
                new PushGatewayError('SMSC unreachable: connect ECONNREFUSED', { code: 'unreachable', transport: 'test' }),
              )
            : recording.sendSms(m),
        sendWapPush: (m) => recording.sendWapPush(m),
        sendBinaryPush: (m) => recording.sendBinaryPush(m),
      },
    });
    const input = {
      installationId: installation.id,
      attempt: 1,
      method: 'sms' as const,
      fileId: file.id,
      ticketLifetimeMs: 7 * DAY,
      softwareName: software.name,
      softwareVersion: software.version,
      inHouseIos: false,
      to: '+4915100000001',
    };
    await expect(flaky.pushDownloadLink({ ...input, sendAttempt: 1 })).rejects.toThrow(/SMSC unreachable/);
    await expect(flaky.pushDownloadLink({ ...input, sendAttempt: 1 })).rejects.toThrow(/SMSC unreachable/); // a retry of the same
    await expect(flaky.pushDownloadLink({ ...input, sendAttempt: 2 })).rejects.toThrow(/SMSC unreachable/);
    down = false;
    const sent = await flaky.pushDownloadLink({ ...input, sendAttempt: 3 });
    expect(sent).toMatchObject({ sent: true, channel: 'sms', duplicate: false });
    const rows = (await logOf(installation.id)).filter((r) => r.entry_key?.startsWith('push:1:gateway-attempt:'));
    expect(rows.map((r) => [r.event, r.entry_key, r.message])).toEqual([
      [
        'error',
        'push:1:gateway-attempt:1',
        'SMS push 1, gateway attempt 1 failed: SMSC unreachable: connect ECONNREFUSED — retrying with backoff',
      ],
      [
        'error',
        'push:1:gateway-attempt:2',
        'SMS push 1, gateway attempt 2 failed: SMSC unreachable: connect ECONNREFUSED — retrying with backoff',
      ],
    ]);
    expect(await stack.db('push_tickets').where({ installation_id: installation.id })).toHaveLength(1);
    expect(await recordedMessages(stack.db, { installationId: installation.id })).toHaveLength(1);
  });

  it('pushDownloadLink (in-house iOS): the SMS carries the itms-services manifest link (R6)', async () => {
    const { installation, file, software } = await fixture({
      platform: 'ios',
      kind: 'other',
      inHouseIos: true,
      formats: ['ipa'],
      msisdn: '+4915100000002',
    });
    const r = await acts.pushDownloadLink({
      installationId: installation.id,
      attempt: 1,
      method: 'sms',
      fileId: file.id,
      ticketLifetimeMs: DAY,
      softwareName: software.name,
      softwareVersion: software.version,
      inHouseIos: true,
      to: '+4915100000002',
    });
    expect(r.link).toBe('manifest');
    const t = await stack.db('push_tickets').where({ installation_id: installation.id }).first();
    const [msg] = await recordedMessages(stack.db, { installationId: installation.id });
    const manifestUrl = `${stack.config.publicUrl}/d/${t.ticket}/manifest.plist`;
    expect(msg?.body).toBe(
      `Install DME Client ${software.version}: itms-services://?action=download-manifest&url=${encodeURIComponent(manifestUrl)}`,
    );
  });

  it('pushDownloadLink (WAP): a Service Indication with the link, expiring with the ticket', async () => {
    const { installation, file, software } = await fixture({ msisdn: '+4915100000003' });
    await acts.pushDownloadLink({
      installationId: installation.id,
      attempt: 1,
      method: 'wap',
      fileId: file.id,
      ticketLifetimeMs: DAY,
      softwareName: software.name,
      softwareVersion: software.version,
      inHouseIos: false,
      to: '+4915100000003',
    });
    const t = await stack.db('push_tickets').where({ installation_id: installation.id }).first();
    const [msg] = await recordedMessages(stack.db, { installationId: installation.id });
    expect(msg).toMatchObject({ channel: 'wap', contentType: 'text/vnd.wap.si', recipient: '+4915100000003' });
    expect(JSON.parse(msg!.body!)).toEqual({
      href: `${stack.config.publicUrl}/d/${t.ticket}`,
      siId: `${stack.config.publicUrl}/d/${t.ticket}`,
      text: `Install DME Client ${software.version}`,
      expires: t.expires_at.toISOString(),
    });
  });

  it('pushDownloadLink (mark): a ticket, nothing sent; without an MSISDN SMS is refused for good', async () => {
    const { installation, file, software } = await fixture({ msisdn: null });
    const base = {
      installationId: installation.id,
      fileId: file.id,
      ticketLifetimeMs: DAY,
      softwareName: software.name,
      softwareVersion: software.version,
      inHouseIos: false,
      to: null,
    };
    expect(await acts.pushDownloadLink({ ...base, attempt: 1, method: 'mark' })).toMatchObject({
      sent: false,
      channel: 'mark',
      link: 'none',
    });
    expect(await stack.db('push_tickets').where({ installation_id: installation.id })).toHaveLength(1);
    expect(await recordedMessages(stack.db, { installationId: installation.id })).toEqual([]);
    const err = await acts.pushDownloadLink({ ...base, attempt: 2, method: 'sms' }).catch((e) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ nonRetryable: true, type: 'NoMsisdn' });
  });

  it('dmInstall: the package URL is a ticket link (attempt 0), created once', async () => {
    const { installation, file, device } = await fixture();
    dmCalls.length = 0;
    const input = {
      installationId: installation.id,
      deviceId: device.id,
      fileId: file.id,
      softwareName: 'DME Client',
      softwareVersion: '4.2',
      ticketLifetimeMs: DAY,
    };
    await acts.dmInstall(input);
    await acts.dmInstall(input);
    const tickets = await stack.db('push_tickets').where({ installation_id: installation.id });
    expect(tickets).toHaveLength(1);
    expect(tickets[0].attempt).toBe(0);
    const req = {
      idempotencyKey: `${installation.id}:dm-install`,
      installationId: installation.id,
      deviceId: device.id,
      packageUrl: `${stack.config.publicUrl}/d/${tickets[0].ticket}`,
      softwareName: 'DME Client',
      version: '4.2',
    };
    expect(dmCalls).toEqual([{ install: req }, { install: req }]);
  });

  it('revokePushTickets: every live ticket of the job, once', async () => {
    const { installation, file, software } = await fixture();
    for (const attempt of [1, 2]) {
      await acts.pushDownloadLink({
        installationId: installation.id,
        attempt,
        method: 'mark',
        fileId: file.id,
        ticketLifetimeMs: DAY,
        softwareName: software.name,
        softwareVersion: software.version,
        inHouseIos: false,
      });
    }
    expect(await acts.revokePushTickets({ installationId: installation.id })).toEqual({ revoked: 2 });
    expect(await acts.revokePushTickets({ installationId: installation.id })).toEqual({ revoked: 0 });
    const rows = await stack.db('push_tickets').where({ installation_id: installation.id });
    expect(rows.every((r) => r.revoked_at instanceof Date)).toBe(true);
  });

  it('the recording channel: one row per idempotency key, a retry answers duplicate', async () => {
    const channel = createRecordingChannel(stack.db);
    const key = `test:${randomUUID()}`;
    const a = await channel.sendSms({ idempotencyKey: key, to: '+4915100000009', text: 'hello' });
    const b = await channel.sendSms({ idempotencyKey: key, to: '+4915100000009', text: 'hello' });
    expect(a).toEqual({ transport: 'recording', providerId: expect.any(String) });
    expect(b).toEqual({ transport: 'recording', providerId: a.providerId, duplicate: true });
    const bin = await channel.sendBinaryPush({
      idempotencyKey: `${key}:bin`,
      to: '+4915100000009',
      contentType: 'application/vnd.syncml.notification',
      applicationId: 'x-wap-application:syncml.dm',
      body: Buffer.from([1, 2, 3]),
    });
    expect(bin.duplicate).toBeUndefined();
    const rows = await recordedMessages(stack.db, { keyPrefix: key });
    expect(rows.map((r) => [r.channel, r.body, r.installationId])).toEqual([
      ['sms', 'hello', null],
      ['binary', 'x-wap-application:syncml.dm', null],
    ]);
    expect(rows[1]?.payload).toEqual(Buffer.from([1, 2, 3]));
  });

  it('the install workflow on the dev server with these activities: SMS → download → sync → Downloaded – Verified', async () => {
    const { installation, device, software, rollout, file } = await fixture({ installed: { 'DME Client': '4.0' } });
    const input: InstallInput = {
      installationId: installation.id,
      rolloutId: rollout.id,
      deviceId: device.id,
      softwareId: software.id,
      options: { useDm: false, push: 'sms', maxPushAttempts: 3 },
      timeouts: { bootstrapMs: 3_600_000, dmInstallMs: 7_200_000, ticketLifetimeMs: 7 * DAY, verificationMs: 14 * DAY },
    };
    const handle = await stack.client.workflow.start(installWorkflow, {
      taskQueue: stack.config.taskQueue,
      workflowId: installWorkflowId(rollout.id, device.id),
      args: [input],
    });
    const poll = { timeout: 30_000, interval: 100 };
    await expect.poll(async () => (await handle.query(installStatusQuery)).waitingFor, poll).toBe('the download');
    const [sms] = await recordedMessages(stack.db, { installationId: installation.id });
    const ticket = await stack.db('push_tickets').where({ installation_id: installation.id }).first();
    expect(sms?.body).toContain(`/d/${ticket.ticket}`);
    expect(ticket.file_id).toBe(file.id);
    await handle.signal(downloadedSignal, { source: 'download', ticket: ticket.ticket });
    await expect
      .poll(async () => (await handle.query(installStatusQuery)).status, poll)
      .toBe(STATUS.downloadedWaitingForVerification);
    await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': software.version } });
    const result = await handle.result();
    expect(result).toMatchObject({ status: STATUS.downloadedVerified });

    const row = await stack.db('installations').where({ id: installation.id }).first();
    expect(row).toMatchObject({
      status: STATUS.downloadedVerified,
      final: true,
      method: 'sms',
      file_id: file.id,
      workflow_id: handle.workflowId,
    });
    const log = await logOf(installation.id);
    expect(log.filter((l) => l.event === 'status').map((l) => l.to_status)).toEqual([
      STATUS.waitingForDownload,
      STATUS.downloadedWaitingForVerification,
      STATUS.downloadedVerified,
    ]);
    expect(new Set(log.map((l) => l.entry_key)).size).toBe(log.length);
    // … the last info: the download link revoked with the final status
    expect(log.map((l) => l.event)).toEqual(['info', 'push', 'status', 'info', 'status', 'info', 'info', 'status']);
    expect(log.at(-2)?.message).toBe('1 download link revoked');
    expect((await stack.db('push_tickets').where({ installation_id: installation.id })).map((t) => !!t.revoked_at)).toEqual([
      true,
    ]);

    const desc = await handle.describe();
    expect(desc.typedSearchAttributes.get(SA.InstallStatus)).toBe(STATUS.downloadedVerified);
    expect(desc.typedSearchAttributes.get(SA.RolloutId)).toBe(rollout.id);
    // the operator's query: list by InstallStatus (visibility is eventually consistent)
    await expect
      .poll(async () => {
        const ids: string[] = [];
        for await (const w of stack.client.workflow.list({
          query: `RolloutId = '${rollout.id}' AND InstallStatus = '${STATUS.downloadedVerified}'`,
        }))
          ids.push(w.workflowId);
        return ids;
      }, poll)
      .toEqual([handle.workflowId]);
  });
});
