/**
 * installWorkflow on Temporal's time-skipping test server: one test per path of issue 3, asserting
 * the exact status sequence and the log. Activities are doubles (they record what the workflow asked
 * for); signals are sent the way the API sends them. Days-long waits are skipped by the server.
 *
 * `RECORD_HISTORIES=1 npx vitest run --project workflow test/workflow/install.test.ts` rewrites the
 * histories of the current set (test/workflow/histories/v5/) that test/workflow/replay.test.ts replays.
 * Jobs run as rollouts start them (input `revision: INSTALL_REVISION`) unless a scenario says `revision`.
 */
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstallContext, PushLinkInput, TransitionInput } from '../../activities/install';
import type { Platform } from '../../domain/install-options';
import * as SA from '../../domain/search-attributes';
import { type InstallStatus, STATUS } from '../../domain/status';
import { INSTALL_REVISION, installWorkflow } from '../../workflows/install';
import {
  bootstrapConfirmedSignal,
  dmInstallResultSignal,
  downloadedSignal,
  downloadFailedSignal,
  type InstallInput,
  type InstallResult,
  installStatusQuery,
  installWorkflowId,
  sysinfoSyncedSignal,
} from '../../workflows/messages';
import { createTestWorker, createTimeSkippingEnv } from '../helpers/time-skipping';
import { writeHistory } from './install-histories';

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** expect.poll: waiting for the workflow to process what it was sent (not a timing assertion). */
const POLL = { timeout: 30_000, interval: 50 };

const TIMEOUTS = { bootstrapMs: 1 * HOUR, dmInstallMs: 2 * HOUR, ticketLifetimeMs: 7 * DAY, verificationMs: 14 * DAY };

interface Scenario {
  platform: Platform;
  bootstrapped?: boolean;
  msisdn?: string | null;
  installed?: Record<string, string>;
  kind?: 'dme-client' | 'other';
  inHouseIos?: boolean;
  files?: { id: string; format: string }[];
  dm?: boolean;
  useDm: boolean;
  push: 'sms' | 'wap' | 'mark';
  maxPushAttempts?: number;
  parentWorkflowId?: string;
  /** Make activities fail. */
  failDmInstall?: boolean;
  failFirstTransition?: boolean;
  /** pushDownloadLink waits for this gate. */
  pushGate?: Promise<void>;
  /** The SMS gateway fails every push attempt for this long (server time since the push was scheduled). */
  gatewayDownMs?: number;
  /** The gateway rejects every push for good (a non-retryable channel error). */
  rejectPush?: boolean;
  /** dmBootstrap fails for good. */
  failBootstrap?: boolean;
  /** The job row is final already when the install starts (its device was retired). */
  finalBeforeStart?: InstallStatus;
  timeouts?: Partial<InstallInput['timeouts']>;
  /** The input's install revision (default: INSTALL_REVISION, as the rollout starts jobs; 1 = decided by patched()). */
  revision?: number;
}

let counter = 0;

/** What `calls` shows for a transition that revoked the job's links itself (`install-final-transition-revokes`). */
const REVOKED_WITH_TRANSITION = 'recordInstallTransition+revoke';

/** Activity doubles recording what the workflow asked for, plus `reached(status)` promises. */
function harness(s: Scenario) {
  const n = ++counter;
  const installationId = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  const transitions: TransitionInput[] = [];
  const pushes: PushLinkInput[] = [];
  const calls: string[] = [];
  const waiters = new Map<string, () => void>();
  const seen = new Set<string>();
  let transitionCalls = 0;
  let firstPushAt: number | undefined;
  const ctx: InstallContext = {
    installation: {
      id: installationId,
      rolloutId: 'r-1',
      deviceId: `dev-${n}`,
      status: s.finalBeforeStart ?? null,
      final: s.finalBeforeStart !== undefined,
    },
    device: {
      id: `dev-${n}`,
      externalId: `IMEI-${n}`,
      platform: s.platform,
      msisdn: s.msisdn === undefined ? '+4915100000001' : s.msisdn,
      bootstrapped: !!s.bootstrapped,
      installed: s.installed ?? {},
    },
    software: {
      id: 'sw-1',
      name: 'DME Client',
      version: '4.2',
      kind: s.kind ?? 'dme-client',
      platforms: [s.platform],
      inHouseIos: !!s.inHouseIos,
      bundleId: null,
      files: s.files ?? [{ id: 'file-1', format: 'sisx' }],
    },
    dmConfigured: s.dm ?? true,
  };
  const input: InstallInput = {
    installationId,
    rolloutId: 'r-1',
    deviceId: `dev-${n}`,
    softwareId: 'sw-1',
    options: { useDm: s.useDm, push: s.push, maxPushAttempts: s.maxPushAttempts ?? 3 },
    timeouts: { ...TIMEOUTS, ...s.timeouts },
    ...(s.parentWorkflowId ? { parentWorkflowId: s.parentWorkflowId } : {}),
    ...(s.revision === 1 ? {} : { revision: s.revision ?? INSTALL_REVISION }),
  };
  const activities = {
    async loadInstallContext() {
      calls.push('loadInstallContext');
      return ctx;
    },
    async recordInstallTransition(t: TransitionInput) {
      transitionCalls++;
      if (s.failFirstTransition && transitionCalls === 1) throw new Error('database restarting');
      if (t.revokeTickets) calls.push(REVOKED_WITH_TRANSITION);
      // a transition that revokes: the activity notes the link it revoked after the workflow's notes
      transitions.push(
        t.revokeTickets
          ? { ...t, notes: [...(t.notes ?? []), { event: 'info' as const, message: '1 download link revoked' }] }
          : t,
      );
      const key = t.status?.to ?? `notes@${t.seq}`;
      seen.add(key);
      waiters.get(key)?.();
      return t.revokeTickets ? { written: true, revoked: 1 } : { written: true };
    },
    async pushDownloadLink(p: PushLinkInput) {
      if (s.rejectPush) {
        calls.push(`push-rejected:${p.method}:${p.attempt}`);
        throw ApplicationFailure.nonRetryable('SMSC rejected the message: unknown subscriber', 'PushRejectedError');
      }
      if (s.gatewayDownMs !== undefined) {
        // server time (skipped by the test server) since the first send attempt was scheduled
        const { scheduledTimestampMs, currentAttemptScheduledTimestampMs } = Context.current().info;
        firstPushAt ??= scheduledTimestampMs;
        if (currentAttemptScheduledTimestampMs - firstPushAt < s.gatewayDownMs) {
          calls.push(`push-failed:${p.method}:${p.attempt}`);
          throw new Error('SMS gateway unreachable');
        }
      }
      calls.push(`push:${p.method}:${p.attempt}`);
      pushes.push(p);
      if (s.pushGate) {
        seen.add('push-started');
        waiters.get('push-started')?.();
        await s.pushGate;
      }
      return {
        attempt: p.attempt,
        expiresAt: new Date(Date.now() + p.ticketLifetimeMs).toISOString(),
        sent: p.method !== 'mark',
        channel: p.method,
        transport: p.method === 'mark' ? undefined : 'recording',
        link: p.method === 'mark' ? 'none' : p.inHouseIos && p.method === 'sms' ? 'manifest' : 'file',
      };
    },
    async dmBootstrap() {
      calls.push('dmBootstrap');
      if (s.failBootstrap) throw ApplicationFailure.nonRetryable('SMSC rejected the bootstrap', 'PushRejectedError');
    },
    async dmInstall(i: { fileId: string }) {
      calls.push(`dmInstall:${i.fileId}`);
      if (s.failDmInstall) throw ApplicationFailure.nonRetryable('DM engine refused the package', 'DmRefused');
      return { expiresAt: new Date().toISOString() };
    },
    async revokePushTickets() {
      calls.push('revokePushTickets');
      return { revoked: 1 };
    },
  };
  return {
    input,
    activities,
    transitions,
    pushes,
    calls,
    workflowId: installWorkflowId('r-1', `dev-${n}`),
    /** Resolves once the workflow recorded this status (or 'push-started'). */
    reached(status: InstallStatus | 'push-started'): Promise<void> {
      if (seen.has(status)) return Promise.resolve();
      return new Promise((resolve) => waiters.set(status, resolve));
    },
    statuses: () => transitions.flatMap((t) => (t.status ? [t.status.to] : [])),
    /** The log as "event: message" lines, in order. */
    log: () =>
      transitions.flatMap((t) => [
        ...(t.notes ?? []).map((x) => `${x.event}: ${x.message}`),
        ...(t.status
          ? [`status: ${t.status.from ?? '—'} → ${t.status.to}${t.status.message ? ` (${t.status.message})` : ''}`]
          : []),
      ]),
  };
}

type Handle = WorkflowHandle<typeof installWorkflow>;

/** Until the workflow says it waits for `what` (cancellation tests cancel a wait, not an activity). */
const waitingFor = (handle: Handle, what: string) =>
  expect.poll(async () => (await handle.query(installStatusQuery)).waitingFor, POLL).toBe(what);

describe('installWorkflow (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  /** Runs `drive` with a worker serving the doubles; records the history when asked to. */
  async function run<T>(h: ReturnType<typeof harness>, name: string | null, drive: (handle: Handle) => Promise<T>): Promise<T> {
    const { worker, taskQueue } = await createTestWorker(env, h.activities);
    return worker.runUntil(async () => {
      const handle = await env.client.workflow.start(installWorkflow, {
        taskQueue,
        workflowId: h.workflowId,
        args: [h.input],
      });
      const out = await drive(handle);
      if (name && process.env.RECORD_HISTORIES) {
        await writeHistory(name, await handle.fetchHistory());
      }
      return out;
    });
  }

  const expectResult = (r: InstallResult, h: ReturnType<typeof harness>, status: InstallStatus) =>
    expect(r).toMatchObject({ installationId: h.input.installationId, deviceId: h.input.deviceId, status });

  it('DM, bootstrapped: Installing software → Installed – Waiting for verification → Installed – Verified', async () => {
    const h = harness({ platform: 'symbian', bootstrapped: true, useDm: true, push: 'sms' });
    const r = await run(h, 'dm-bootstrapped-verified', async (handle) => {
      await h.reached(STATUS.installingSoftware);
      await handle.signal(dmInstallResultSignal, { success: true, code: 1200 });
      await h.reached(STATUS.installedWaitingForVerification);
      // an older version reported at a sync does not verify
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.1' } });
      await expect
        .poll(() => handle.query(installStatusQuery), POLL)
        .toMatchObject({ status: STATUS.installedWaitingForVerification, method: 'dm', pushAttempts: 0 });
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2.0', Other: '1' } });
      return handle.result();
    });
    expectResult(r, h, STATUS.installedVerified);
    expect(h.statuses()).toEqual([STATUS.installingSoftware, STATUS.installedWaitingForVerification, STATUS.installedVerified]);
    // the final status revokes the job's links (here the DM package link)
    expect(h.calls).toEqual(['loadInstallContext', 'dmInstall:file-1', REVOKED_WITH_TRANSITION]);
    expect(h.log()).toEqual([
      'info: version decision: install (the device reports no DME Client)',
      'status: — → Installing software',
      'info: DM install succeeded (code 1200)',
      'status: Installing software → Installed – Waiting for verification',
      'info: the device reported DME Client 4.2.0 at a system-info sync',
      'info: 1 download link revoked',
      'status: Installed – Waiting for verification → Installed – Verified (verified: the device reports version 4.2.0)',
    ]);
    // every transition writes the row with the method and a distinct seq (the log's entry keys)
    expect(h.transitions.map((t) => t.method)).toEqual(['dm', 'dm', 'dm']);
    expect(h.transitions.map((t) => t.seq)).toEqual([1, 2, 3]);
    expect(h.transitions.every((t) => t.workflowId === h.workflowId && t.installationId === h.input.installationId)).toBe(true);
  });

  it('DM, not bootstrapped: bootstrap timeout → SMS push → download → Downloaded – Verified', async () => {
    const h = harness({
      platform: 'windows-mobile-pocketpc',
      bootstrapped: false,
      useDm: true,
      push: 'sms',
      files: [{ id: 'cab', format: 'cab' }],
    });
    const r = await run(h, 'bootstrap-timeout-sms-verified', async (handle) => {
      await h.reached(STATUS.waitingForBootstrap);
      await expect
        .poll(() => handle.query(installStatusQuery), POLL)
        .toMatchObject({ status: STATUS.waitingForBootstrap, waitingFor: 'the bootstrap confirmation', method: 'dm' });
      await env.sleep(TIMEOUTS.bootstrapMs); // the server skips the hour
      await h.reached(STATUS.waitingForDownload);
      await expect
        .poll(() => handle.query(installStatusQuery), POLL)
        .toMatchObject({ status: STATUS.waitingForDownload, method: 'sms', pushAttempts: 1, waitingFor: 'the download' });
      await handle.signal(downloadedSignal, { source: 'download' });
      await h.reached(STATUS.downloadedWaitingForVerification);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      return handle.result();
    });
    expectResult(r, h, STATUS.downloadedVerified);
    expect(h.statuses()).toEqual([
      STATUS.waitingForBootstrap,
      STATUS.waitingForDownload,
      STATUS.downloadedWaitingForVerification,
      STATUS.downloadedVerified,
    ]);
    expect(h.calls).toEqual(['loadInstallContext', 'dmBootstrap', 'push:sms:1', REVOKED_WITH_TRANSITION]);
    expect(h.pushes[0]).toMatchObject({
      method: 'sms',
      attempt: 1,
      fileId: 'cab',
      to: '+4915100000001',
      ticketLifetimeMs: 7 * DAY,
    });
    expect(h.log()).toEqual([
      'info: version decision: install (the device reports no DME Client)',
      'status: — → Waiting for bootstrap',
      'info: OMA DM bootstrap sent',
      'fallback: the bootstrap was not confirmed within 1h: falling back to SMS push',
      'push: SMS push 1 of 3 sent to +4915100000001 with the download link (link valid for 7d; recording)',
      'status: Waiting for bootstrap → Waiting for download',
      'info: the device downloaded the software (last byte served)',
      'status: Waiting for download → Downloaded – Waiting for verification',
      'info: the device reported DME Client 4.2 at a system-info sync',
      'info: 1 download link revoked',
      'status: Downloaded – Waiting for verification → Downloaded – Verified (verified: the device reports version 4.2)',
    ]);
    expect(h.transitions.map((t) => t.method)).toEqual(['dm', 'sms', 'sms', 'sms']);
  });

  it('DM, not bootstrapped: confirmed bootstrap → DM install (the .exe variant on a Smartphone, R7)', async () => {
    const h = harness({
      platform: 'windows-mobile-smartphone',
      bootstrapped: false,
      useDm: true,
      push: 'sms',
      kind: 'other',
      files: [
        { id: 'cab', format: 'cab' },
        { id: 'exe', format: 'exe' },
      ],
    });
    const r = await run(h, 'bootstrap-confirmed-dm-installed', async (handle) => {
      await h.reached(STATUS.waitingForBootstrap);
      await handle.signal(bootstrapConfirmedSignal);
      await handle.signal(bootstrapConfirmedSignal); // duplicate: harmless
      await h.reached(STATUS.installingSoftware);
      await handle.signal(dmInstallResultSignal, { success: true });
      return handle.result();
    });
    expectResult(r, h, STATUS.installed);
    expect(h.statuses()).toEqual([STATUS.waitingForBootstrap, STATUS.installingSoftware, STATUS.installed]);
    expect(h.calls).toEqual(['loadInstallContext', 'dmBootstrap', 'dmInstall:exe', REVOKED_WITH_TRANSITION]);
    expect(h.log()).toContain(
      'info: .cab files cannot be installed on Windows Mobile Smartphones: the .exe variant is used (R7)',
    );
    expect(h.log()).toContain('info: bootstrap confirmed by the device');
  });

  it('DM install failure → WAP push → Downloaded – Verified', async () => {
    const h = harness({ platform: 'symbian', bootstrapped: true, useDm: true, push: 'wap', installed: { 'DME Client': '4.0' } });
    const r = await run(h, 'dm-failure-wap-verified', async (handle) => {
      await h.reached(STATUS.installingSoftware);
      // the device fetched the DM package (a ticket link too), then the DM install failed
      await handle.signal(downloadedSignal, { source: 'download' });
      await handle.signal(dmInstallResultSignal, { success: false, code: 1404, detail: 'download failed' });
      await h.reached(STATUS.waitingForDownload);
      // … so the push path waits for a download of the pushed link
      await waitingFor(handle, 'the download');
      await handle.signal(downloadedSignal, { source: 'report' });
      await h.reached(STATUS.downloadedWaitingForVerification);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      return handle.result();
    });
    expectResult(r, h, STATUS.downloadedVerified);
    expect(h.statuses()).toEqual([
      STATUS.installingSoftware,
      STATUS.waitingForDownload,
      STATUS.downloadedWaitingForVerification,
      STATUS.downloadedVerified,
    ]);
    // the DM package link is revoked at the fallback, the push link when the job is final
    expect(h.calls).toEqual([
      'loadInstallContext',
      'dmInstall:file-1',
      'revokePushTickets',
      'push:wap:1',
      REVOKED_WITH_TRANSITION,
    ]);
    expect(h.log().slice(0, 6)).toEqual([
      'info: version decision: upgrade from 4.0 to 4.2',
      'status: — → Installing software',
      'fallback: the DM install failed (code 1404): download failed: falling back to WAP push',
      'info: the OMA DM package link revoked',
      'push: WAP push 1 of 3 sent to +4915100000001 with the download link (link valid for 7d; recording)',
      'status: Installing software → Waiting for download',
    ]);
    expect(h.log()).toContain('info: the device downloaded the software (download-end report)');
  });

  it('DM engine refuses the install (activity error) → falls back to SMS push', async () => {
    const h = harness({ platform: 'symbian', bootstrapped: true, useDm: true, push: 'sms', failDmInstall: true });
    const r = await run(h, null, async (handle) => {
      await h.reached(STATUS.waitingForDownload);
      await waitingFor(handle, 'the download');
      await handle.cancel();
      return handle.result().catch((e) => e);
    });
    expect(r).toBeInstanceOf(WorkflowFailedError);
    expect(h.statuses()).toEqual([STATUS.installingSoftware, STATUS.waitingForDownload, STATUS.cancelled]);
    expect(h.log()).toContain(
      'fallback: the DM install could not be started: DM engine refused the package: falling back to SMS push',
    );
    // its package link may exist (the ticket comes first): revoked at the fallback
    expect(h.calls.slice(0, 4)).toEqual(['loadInstallContext', 'dmInstall:file-1', 'revokePushTickets', 'push:sms:1']);
  });

  it('ticket expiry → push again with a new ticket → Installation failed (ticket expired)', async () => {
    const h = harness({
      platform: 'android',
      useDm: false,
      push: 'sms',
      maxPushAttempts: 2,
      files: [{ id: 'apk', format: 'apk' }],
    });
    const r = await run(h, 'ticket-expiry-failed', async (handle) => {
      await h.reached(STATUS.waitingForDownload);
      await handle.signal(downloadFailedSignal, { phase: 'download-end', detail: 'connection lost' });
      return handle.result(); // 2 × 7 days skipped
    });
    expectResult(r, h, STATUS.installationFailed);
    expect(r.reason).toBe('ticket expired: no download after 2 pushes; last device report: download-end failed: connection lost');
    expect(h.statuses()).toEqual([STATUS.waitingForDownload, STATUS.installationFailed]);
    expect(h.calls).toEqual(['loadInstallContext', 'push:sms:1', 'push:sms:2', REVOKED_WITH_TRANSITION]);
    expect(h.log()).toEqual([
      'info: version decision: install (the device reports no DME Client)',
      'push: SMS push 1 of 2 sent to +4915100000001 with the download link (link valid for 7d; recording)',
      'status: — → Waiting for download',
      'retry: the link of push 1 expired without a download: push 2 of 2 with a new link',
      'push: SMS push 2 of 2 sent to +4915100000001 with the download link (link valid for 7d; recording)',
      'error: ticket expired: the link of push 2 of 2 was not downloaded within 7d',
      'info: 1 download link revoked',
      'status: Waiting for download → Installation failed (ticket expired: no download after 2 pushes; last device report: download-end failed: connection lost)',
    ]);
  });

  it('verification timeout → Unknown status', async () => {
    const h = harness({ platform: 'symbian', useDm: false, push: 'sms', installed: { 'DME Client': '4.1' } });
    const r = await run(h, 'verification-timeout-unknown', async (handle) => {
      await h.reached(STATUS.waitingForDownload);
      await handle.signal(downloadedSignal, { source: 'download' });
      await h.reached(STATUS.downloadedWaitingForVerification);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.1' } });
      return handle.result(); // 14 days skipped
    });
    expectResult(r, h, STATUS.unknownStatus);
    expect(h.statuses()).toEqual([STATUS.waitingForDownload, STATUS.downloadedWaitingForVerification, STATUS.unknownStatus]);
    expect(r.reason).toBe('no system-info sync reported DME Client 4.2 within 14d (last reported version: 4.1)');
    expect(h.log().at(-1)).toBe(
      'status: Downloaded – Waiting for verification → Unknown status (no system-info sync reported DME Client 4.2 within 14d (last reported version: 4.1))',
    );
  });

  it('post-install failure reported by the device → Installation failed', async () => {
    const h = harness({ platform: 'symbian', useDm: false, push: 'sms' });
    const r = await run(h, null, async (handle) => {
      await h.reached(STATUS.waitingForDownload);
      await handle.signal(downloadedSignal, { source: 'download' });
      await h.reached(STATUS.downloadedWaitingForVerification);
      await handle.signal(downloadFailedSignal, { phase: 'post-install', detail: 'exit code 3' });
      return handle.result();
    });
    expectResult(r, h, STATUS.installationFailed);
    expect(r.reason).toBe('the device reported: post-install failed: exit code 3');
    expect(h.statuses()).toEqual([STATUS.waitingForDownload, STATUS.downloadedWaitingForVerification, STATUS.installationFailed]);
  });

  it('other software by DM ends Installed; by push ends Downloaded (no verification)', async () => {
    const dm = harness({
      platform: 'android',
      bootstrapped: true,
      useDm: true,
      push: 'sms',
      kind: 'other',
      files: [{ id: 'apk', format: 'apk' }],
    });
    const r1 = await run(dm, 'other-dm-installed', async (handle) => {
      await dm.reached(STATUS.installingSoftware);
      await handle.signal(dmInstallResultSignal, { success: true });
      return handle.result();
    });
    expectResult(r1, dm, STATUS.installed);
    expect(dm.statuses()).toEqual([STATUS.installingSoftware, STATUS.installed]);

    const push = harness({
      platform: 'windows-ce',
      useDm: false,
      push: 'wap',
      kind: 'other',
      files: [{ id: 'cab', format: 'cab' }],
    });
    const r2 = await run(push, 'other-push-downloaded', async (handle) => {
      await push.reached(STATUS.waitingForDownload);
      await handle.signal(downloadedSignal, { source: 'download' });
      return handle.result();
    });
    expectResult(r2, push, STATUS.downloaded);
    expect(push.statuses()).toEqual([STATUS.waitingForDownload, STATUS.downloaded]);
    expect(push.transitions.at(-1)?.status).toMatchObject({ final: true });
  });

  it('same version: DME client verified at once (Installed – Verified by DM, Downloaded – Verified otherwise)', async () => {
    const dm = harness({
      platform: 'symbian',
      bootstrapped: true,
      useDm: true,
      push: 'sms',
      installed: { 'DME Client': '4.2.0' },
    });
    const r1 = await run(dm, 'same-version-verified', async (handle) => handle.result());
    expectResult(r1, dm, STATUS.installedVerified);
    expect(r1.reason).toBe('verified at once: the device already reports version 4.2.0');
    expect(dm.statuses()).toEqual([STATUS.installedVerified]);
    expect(dm.calls).toEqual(['loadInstallContext']);
    expect(dm.log()).toEqual([
      'info: version decision: reconfigure (the device already reports DME Client 4.2.0)',
      'status: — → Installed – Verified (verified at once: the device already reports version 4.2.0)',
    ]);

    const push = harness({ platform: 'symbian', useDm: false, push: 'mark', installed: { 'DME Client': '4.2' } });
    const r2 = await run(push, null, async (handle) => handle.result());
    expectResult(r2, push, STATUS.downloadedVerified);
    expect(push.calls).toEqual(['loadInstallContext']);
  });

  it('same version of other software: reinstalled to reconfigure', async () => {
    const h = harness({
      platform: 'android',
      useDm: false,
      push: 'sms',
      kind: 'other',
      installed: { 'DME Client': '4.2' },
      files: [{ id: 'apk', format: 'apk' }],
    });
    const r = await run(h, null, async (handle) => {
      await h.reached(STATUS.waitingForDownload);
      await handle.signal(downloadedSignal, { source: 'download' });
      return handle.result();
    });
    expectResult(r, h, STATUS.downloaded);
    expect(h.log()[0]).toBe('info: version decision: reconfigure (the device already reports DME Client 4.2)');
  });

  it('newer version on the device → Not needed, logged', async () => {
    const h = harness({ platform: 'symbian', bootstrapped: true, useDm: true, push: 'sms', installed: { 'DME Client': '4.10' } });
    const r = await run(h, 'newer-not-needed', async (handle) => handle.result());
    expectResult(r, h, STATUS.notNeeded);
    expect(r.reason).toBe('the device already has DME Client 4.10, newer than 4.2');
    expect(h.calls).toEqual(['loadInstallContext']);
    expect(h.log()).toEqual([
      'info: version decision: no action (the device reports 4.10, newer than 4.2)',
      'status: — → Not needed (the device already has DME Client 4.10, newer than 4.2)',
    ]);
    expect(h.transitions[0]?.status).toMatchObject({ final: true });
  });

  it('in-house iOS app: no DM, SMS push with the manifest link even when WAP was asked for (R6)', async () => {
    const h = harness({
      platform: 'ios',
      useDm: true,
      push: 'wap',
      kind: 'other',
      inHouseIos: true,
      files: [{ id: 'ipa', format: 'ipa' }],
    });
    const r = await run(h, 'inhouse-ios-sms-manifest', async (handle) => {
      await h.reached(STATUS.waitingForDownload);
      await handle.signal(downloadedSignal, { source: 'download' });
      return handle.result();
    });
    expectResult(r, h, STATUS.downloaded);
    expect(h.calls).toEqual(['loadInstallContext', 'push:sms:1', REVOKED_WITH_TRANSITION]);
    expect(h.pushes[0]).toMatchObject({ method: 'sms', inHouseIos: true, fileId: 'ipa' });
    expect(h.log().slice(0, 5)).toEqual([
      'info: version decision: install (the device reports no DME Client)',
      'info: in-house iOS app: always SMS push with a manifest link (R6), not WAP push',
      'fallback: Use DM does not apply: Use DM does not apply to in-house iOS apps: they are always installed by SMS push: falling back to SMS push',
      'push: SMS push 1 of 3 sent to +4915100000001 with the iOS manifest link (link valid for 7d; recording)',
      'status: — → Waiting for download',
    ]);
  });

  it('mark for installation: nothing sent → download (device sync) → Downloaded – Verified', async () => {
    const h = harness({ platform: 'windows-mobile-pocketpc', useDm: false, push: 'mark', files: [{ id: 'cab', format: 'cab' }] });
    const r = await run(h, 'mark-download-verified', async (handle) => {
      await h.reached(STATUS.waitingForDownload);
      await handle.signal(downloadedSignal, { source: 'report' });
      await h.reached(STATUS.downloadedWaitingForVerification);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'dme client': '4.2' } });
      return handle.result();
    });
    expectResult(r, h, STATUS.downloadedVerified);
    expect(h.statuses()).toEqual([STATUS.waitingForDownload, STATUS.downloadedWaitingForVerification, STATUS.downloadedVerified]);
    expect(h.pushes).toEqual([expect.objectContaining({ method: 'mark', attempt: 1, fileId: 'cab' })]);
    expect(h.log()[1]).toBe('push: marked for installation (link valid for 7d): the device gets the link at its next sync');
    expect(h.transitions.map((t) => t.method)).toEqual(['mark', 'mark', 'mark']);
  });

  it('no MSISDN: SMS push falls back to mark for installation', async () => {
    const h = harness({ platform: 'symbian', useDm: false, push: 'sms', msisdn: null });
    await run(h, null, async (handle) => {
      await h.reached(STATUS.waitingForDownload);
      await waitingFor(handle, 'the download');
      await handle.cancel();
      await handle.result().catch(() => undefined);
    });
    expect(h.pushes[0]).toMatchObject({ method: 'mark' });
    expect(h.log()[1]).toBe('fallback: SMS push needs an MSISDN and the device has none: marked for installation instead');
  });

  it('cancellation mid-wait: tickets revoked, Cancelled logged, the parent told, the workflow ends cancelled', async () => {
    // A running install workflow stands in for the rollout: installFinished lands in its history.
    const parent = harness({ platform: 'symbian', useDm: false, push: 'mark' });
    const { worker, taskQueue } = await createTestWorker(env, parent.activities);
    await worker.runUntil(async () => {
      const parentHandle = await env.client.workflow.start(installWorkflow, {
        taskQueue,
        workflowId: parent.workflowId,
        args: [parent.input],
      });
      await parent.reached(STATUS.waitingForDownload);

      const h = harness({ platform: 'symbian', useDm: false, push: 'sms', parentWorkflowId: parent.workflowId });
      const err = await run(h, 'cancelled-mid-wait', async (handle) => {
        await h.reached(STATUS.waitingForDownload);
        await waitingFor(handle, 'the download');
        await handle.cancel();
        return handle.result().catch((e) => e);
      });
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      expect(h.statuses()).toEqual([STATUS.waitingForDownload, STATUS.cancelled]);
      expect(h.calls).toEqual(['loadInstallContext', 'push:sms:1', REVOKED_WITH_TRANSITION]);
      expect(h.log().slice(-2)).toEqual([
        'info: 1 download link revoked',
        'status: Waiting for download → Cancelled (the rollout was cancelled)',
      ]);
      expect(h.transitions.at(-1)?.status).toMatchObject({ final: true });

      const history = await parentHandle.fetchHistory();
      const signals = (history.events ?? []).filter(
        (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'installFinished',
      );
      expect(signals).toHaveLength(1);
      const payload = signals[0]?.workflowExecutionSignaledEventAttributes?.input?.payloads?.[0]?.data;
      expect(JSON.parse(Buffer.from(payload as Uint8Array).toString())).toEqual({
        installationId: h.input.installationId,
        deviceId: h.input.deviceId,
        status: STATUS.cancelled,
        reason: 'the rollout was cancelled',
      });
      await parentHandle.cancel();
      await parentHandle.result().catch(() => undefined);
    });
  });

  it('cancellation during a push: the push completes first, then its ticket is revoked and Cancelled logged', async () => {
    let open!: () => void;
    const h = harness({ platform: 'symbian', useDm: false, push: 'sms', pushGate: new Promise<void>((r) => (open = r)) });
    const err = await run(h, null, async (handle) => {
      await h.reached('push-started');
      await handle.cancel();
      // the cancellation is recorded while the push activity still runs
      await expect
        .poll(
          async () => (await handle.fetchHistory()).events?.some((e) => !!e.workflowExecutionCancelRequestedEventAttributes),
          POLL,
        )
        .toBe(true);
      open();
      return handle.result().catch((e) => e);
    });
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(h.calls).toEqual(['loadInstallContext', 'push:sms:1', REVOKED_WITH_TRANSITION]);
    expect(h.statuses()).toEqual([STATUS.waitingForDownload, STATUS.cancelled]);
  });

  it('a parent that is gone does not fail the job', async () => {
    const h = harness({
      platform: 'symbian',
      useDm: false,
      push: 'sms',
      installed: { 'DME Client': '5' },
      parentWorkflowId: 'rollout/gone',
    });
    const r = await run(h, null, async (handle) => handle.result());
    expectResult(r, h, STATUS.notNeeded);
  });

  it('early and duplicate signals are kept and harmless', async () => {
    const h = harness({ platform: 'symbian', useDm: false, push: 'sms' });
    const r = await run(h, 'early-duplicate-signals', async (handle) => {
      // before the workflow even loaded its facts: the sync, the download, twice each
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      await handle.signal(downloadedSignal, { source: 'download' });
      await handle.signal(downloadedSignal, { source: 'report' });
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      return handle.result();
    });
    expectResult(r, h, STATUS.downloadedVerified);
    // The sync reports the job's version: when it is in before the push, no push is sent and the job
    // is verified at once; when the push was already out, the kept download and sync end it at once.
    if (h.calls.includes('push:sms:1')) {
      expect(h.statuses()).toEqual([
        STATUS.waitingForDownload,
        STATUS.downloadedWaitingForVerification,
        STATUS.downloadedVerified,
      ]);
      expect(h.calls).toEqual(['loadInstallContext', 'push:sms:1', REVOKED_WITH_TRANSITION]);
    } else {
      expect(h.statuses()).toEqual([STATUS.downloadedVerified]);
      expect(h.calls).toEqual(['loadInstallContext']);
    }
  });

  it('a retried transition activity writes with the same seq (its log entry keys)', async () => {
    const h = harness({
      platform: 'symbian',
      useDm: false,
      push: 'sms',
      installed: { 'DME Client': '9' },
      failFirstTransition: true,
    });
    const r = await run(h, null, async (handle) => handle.result());
    expectResult(r, h, STATUS.notNeeded);
    expect(h.transitions).toHaveLength(1);
    expect(h.transitions[0]?.seq).toBe(1);
  });

  it('malformed signal payloads are logged and ignored; the job goes on (issue 13 item 4)', async () => {
    const h = harness({ platform: 'symbian', bootstrapped: true, useDm: true, push: 'sms' });
    const r = await run(h, 'malformed-signals-ignored', async (handle) => {
      await h.reached(STATUS.installingSoftware);
      // what a buggy or hostile sender could put on the wire: before the fix, the handler threw and the
      // workflow task failed for ever
      const raw = handle as unknown as { signal(name: string, ...args: unknown[]): Promise<void> };
      await raw.signal('dmInstallResult', null);
      await raw.signal('dmInstallResult', { success: 'yes' });
      await raw.signal('downloaded', 'x');
      await raw.signal('downloadFailed', null);
      await raw.signal('downloadFailed', { phase: 42 });
      await raw.signal('sysinfoSynced', { installed: 5 });
      await raw.signal('sysinfoSynced');
      await expect
        .poll(() => handle.query(installStatusQuery), POLL)
        .toMatchObject({ status: STATUS.installingSoftware, waitingFor: 'the DM install result' });
      await handle.signal(dmInstallResultSignal, { success: true, code: 1200 });
      await h.reached(STATUS.installedWaitingForVerification);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      return handle.result();
    });
    expectResult(r, h, STATUS.installedVerified);
    expect(h.statuses()).toEqual([STATUS.installingSoftware, STATUS.installedWaitingForVerification, STATUS.installedVerified]);
    expect(h.log().filter((l) => l.includes('malformed'))).toEqual([
      'error: ignored a malformed dmInstallResult signal: expected { success: boolean, code?: number, detail?: string }, got null',
      'error: ignored a malformed dmInstallResult signal: expected { success: boolean, code?: number, detail?: string }, got {"success":"yes"}',
      'error: ignored a malformed downloaded signal: expected { source: "download" | "report", ticket?, at? }, got "x"',
      'error: ignored a malformed downloadFailed signal: expected { phase: "download-begin" | "download-end" | "post-install", detail? }, got null',
      'error: ignored a malformed downloadFailed signal: expected { phase: "download-begin" | "download-end" | "post-install", detail? }, got {"phase":42}',
      'error: ignored a malformed sysinfoSynced signal: expected { installed: { <name>: <version> } }, got {"installed":5}',
      'error: ignored a malformed sysinfoSynced signal: expected { installed: { <name>: <version> } }, got undefined',
    ]);
  }, 60_000);

  it('sets the search attributes and the current details', async () => {
    const h = harness({ platform: 'symbian', bootstrapped: true, useDm: true, push: 'sms' });
    await run(h, null, async (handle) => {
      await h.reached(STATUS.installingSoftware);
      await expect
        .poll(async () => (await handle.describe()).typedSearchAttributes.get(SA.InstallStatus), POLL)
        .toBe(STATUS.installingSoftware);
      await expect
        .poll(async () => (await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata')).currentDetails, POLL)
        .toMatch(
          /^\*\*Installing software\*\*\n\nDME Client 4\.2 → device IMEI-\d+ \(symbian\)\n\nmethod: OMA DM\n\nwaiting for the DM install result until /,
        );
      await handle.signal(dmInstallResultSignal, { success: true });
      await h.reached(STATUS.installedWaitingForVerification);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      await handle.result();
      const desc = await handle.describe();
      const sa = desc.typedSearchAttributes;
      expect(sa.get(SA.InstallStatus)).toBe(STATUS.installedVerified);
      expect(sa.get(SA.RolloutId)).toBe('r-1');
      expect(sa.get(SA.DeviceId)).toBe(h.input.deviceId);
      expect(sa.get(SA.SoftwareName)).toBe('DME Client');
      expect(sa.get(SA.SoftwareVersion)).toBe('4.2');
      expect(sa.get(SA.PushMethod)).toBe('dm');
    });
  });

  // ---- issue 13: installs that always end, correctly ----------------------------------------------

  it('a 5-minute or 1-hour SMS gateway outage fails nothing: the push is retried (issue 13 item 7)', async () => {
    for (const [name, downMs] of [
      ['push-gateway-outage-5m', 5 * 60_000],
      ['push-gateway-outage-1h', HOUR],
    ] as const) {
      const h = harness({
        platform: 'android',
        useDm: false,
        push: 'sms',
        kind: 'other',
        files: [{ id: 'apk', format: 'apk' }],
        gatewayDownMs: downMs,
      });
      const r = await run(h, name, async (handle) => {
        // the download is kept for when the push went out; result() lets the server skip the outage
        await handle.signal(downloadedSignal, { source: 'download' });
        return handle.result();
      });
      expectResult(r, h, STATUS.downloaded);
      expect(h.statuses()).toEqual([STATUS.waitingForDownload, STATUS.downloaded]);
      const failed = h.calls.filter((c) => c === 'push-failed:sms:1').length;
      expect(failed).toBeGreaterThan(2);
      // capped backoff: an hour of outage is not hundreds of attempts
      expect(failed).toBeLessThan(30);
      expect(h.calls.filter((c) => c.startsWith('push:'))).toEqual(['push:sms:1']);
    }
  }, 90_000);

  it('an SMS gateway down for longer than PUSH_SEND_TIMEOUT fails the job, with the reason (issue 13 item 7)', async () => {
    const h = harness({
      platform: 'symbian',
      useDm: false,
      push: 'sms',
      gatewayDownMs: 10 * DAY,
      timeouts: { pushSendMs: 6 * HOUR },
    });
    const r = await run(h, 'push-send-timeout-failed', async (handle) => handle.result());
    expectResult(r, h, STATUS.installationFailed);
    expect(r.reason).toMatch(/^SMS push could not be sent: no send attempt succeeded within 6h \(push send timeout\)/);
    expect(h.statuses()).toEqual([STATUS.installationFailed]);
    expect(h.calls.filter((c) => c.startsWith('push:'))).toEqual([]);
    expect(h.calls.filter((c) => c === 'push-failed:sms:1').length).toBeGreaterThan(10);
  }, 60_000);

  it('push send failure: a rejection no retry can fix fails the job at once, with the reason', async () => {
    const h = harness({ platform: 'symbian', useDm: false, push: 'wap', rejectPush: true });
    const r = await run(h, 'push-rejected-failed', async (handle) => handle.result());
    expectResult(r, h, STATUS.installationFailed);
    expect(r.reason).toBe('WAP push could not be sent: SMSC rejected the message: unknown subscriber');
    expect(h.calls.filter((c) => c.startsWith('push'))).toEqual(['push-rejected:wap:1']);
    expect(h.log()).toContain('error: WAP push could not be sent: SMSC rejected the message: unknown subscriber');
  });

  it('a job final before its install started (device retired) ends at once with that status: nothing sent, nothing written', async () => {
    const h = harness({ platform: 'windows-mobile-pocketpc', useDm: true, push: 'sms', finalBeforeStart: STATUS.cancelled });
    const r = await run(h, 'final-before-start', async (handle) => handle.result());
    expectResult(r, h, STATUS.cancelled);
    expect(h.calls).toEqual(['loadInstallContext']);
    expect(h.statuses()).toEqual([]);
  });

  it('no file for the platform (R7: only a .cab for a Smartphone) → Installation failed, nothing sent', async () => {
    const h = harness({
      platform: 'windows-mobile-smartphone',
      useDm: false,
      push: 'sms',
      files: [{ id: 'cab', format: 'cab' }],
    });
    const r = await run(h, 'no-file-r7-failed', async (handle) => handle.result());
    expectResult(r, h, STATUS.installationFailed);
    expect(r.reason).toMatch(/\.cab/i);
    expect(h.calls).toEqual(['loadInstallContext']);
    expect(h.statuses()).toEqual([STATUS.installationFailed]);
    expect(h.log()[1]).toMatch(/^error: no file for this device: /);
  });

  it('DM result timeout → falls back to the push method, the log says why', async () => {
    const h = harness({ platform: 'symbian', bootstrapped: true, useDm: true, push: 'sms' });
    await run(h, 'dm-result-timeout-sms', async (handle) => {
      await h.reached(STATUS.installingSoftware);
      await waitingFor(handle, 'the DM install result');
      await env.sleep(TIMEOUTS.dmInstallMs);
      await h.reached(STATUS.waitingForDownload);
      await handle.signal(downloadedSignal, { source: 'download' });
      await h.reached(STATUS.downloadedWaitingForVerification);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      return handle.result();
    });
    expect(h.statuses()).toEqual([
      STATUS.installingSoftware,
      STATUS.waitingForDownload,
      STATUS.downloadedWaitingForVerification,
      STATUS.downloadedVerified,
    ]);
    expect(h.log()).toContain('fallback: no DM install result within 2h: falling back to SMS push');
  });

  it('bootstrap send failure → falls back to the push method, the log says why', async () => {
    const h = harness({ platform: 'symbian', bootstrapped: false, useDm: true, push: 'sms', failBootstrap: true });
    await run(h, 'bootstrap-send-failure-sms', async (handle) => {
      await h.reached(STATUS.waitingForDownload);
      await handle.signal(downloadedSignal, { source: 'download' });
      await h.reached(STATUS.downloadedWaitingForVerification);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      return handle.result();
    });
    expect(h.statuses()).toEqual([
      STATUS.waitingForBootstrap,
      STATUS.waitingForDownload,
      STATUS.downloadedWaitingForVerification,
      STATUS.downloadedVerified,
    ]);
    expect(h.calls.slice(0, 3)).toEqual(['loadInstallContext', 'dmBootstrap', 'push:sms:1']);
    expect(h.log()).toContain('fallback: the bootstrap could not be sent: SMSC rejected the bootstrap: falling back to SMS push');
  });

  it('a late DM success after the fallback ends the job by DM; the DM link is revoked at the fallback (issue 13 item 8)', async () => {
    const h = harness({ platform: 'symbian', bootstrapped: true, useDm: true, push: 'sms' });
    const r = await run(h, 'late-dm-success-verified', async (handle) => {
      await h.reached(STATUS.installingSoftware);
      await waitingFor(handle, 'the DM install result');
      await env.sleep(TIMEOUTS.dmInstallMs);
      await h.reached(STATUS.waitingForDownload);
      await waitingFor(handle, 'the download');
      await handle.signal(dmInstallResultSignal, { success: true, code: 1200 });
      await h.reached(STATUS.installedWaitingForVerification);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      return handle.result();
    });
    expectResult(r, h, STATUS.installedVerified);
    expect(h.statuses()).toEqual([
      STATUS.installingSoftware,
      STATUS.waitingForDownload,
      STATUS.installedWaitingForVerification,
      STATUS.installedVerified,
    ]);
    expect(h.calls.slice(0, 4)).toEqual(['loadInstallContext', 'dmInstall:file-1', 'revokePushTickets', 'push:sms:1']);
    expect(h.log()).toContain('info: the OMA DM package link revoked');
    expect(h.log()).toContain('info: DM install succeeded (code 1200) (while waiting for the download of push 1)');
    expect(h.transitions.at(-1)?.method).toBe('dm');
  }, 60_000);

  it('a sync reporting the version ends the job in any phase: no redundant SMS, no ticket expiry (issue 13 item 8)', async () => {
    // while waiting for the DM result: verified at once, nothing pushed
    const dm = harness({ platform: 'symbian', bootstrapped: true, useDm: true, push: 'sms' });
    const r1 = await run(dm, 'sync-during-dm-verified', async (handle) => {
      await dm.reached(STATUS.installingSoftware);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      return handle.result();
    });
    expectResult(r1, dm, STATUS.installedVerified);
    expect(dm.calls.filter((c) => c.startsWith('push'))).toEqual([]);
    expect(dm.statuses()).toEqual([STATUS.installingSoftware, STATUS.installedVerified]);

    // while waiting for the download of the pushed link: verified, no second push, no ticket expiry
    const push = harness({ platform: 'symbian', useDm: false, push: 'sms' });
    const r2 = await run(push, 'sync-during-download-verified', async (handle) => {
      await push.reached(STATUS.waitingForDownload);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      return handle.result();
    });
    expectResult(r2, push, STATUS.downloadedVerified);
    expect(push.calls.filter((c) => c.startsWith('push'))).toEqual(['push:sms:1']);
    expect(push.statuses()).toEqual([STATUS.waitingForDownload, STATUS.downloadedVerified]);
  }, 60_000);

  it('a post-install failure during the DM phase fails the job with what happened; no push (issue 13 item 9)', async () => {
    const dm = harness({ platform: 'symbian', bootstrapped: true, useDm: true, push: 'sms' });
    const r1 = await run(dm, 'post-install-failure-dm-failed', async (handle) => {
      await dm.reached(STATUS.installingSoftware);
      await handle.signal(downloadFailedSignal, { phase: 'post-install', detail: 'exit code 3' });
      return handle.result();
    });
    expectResult(r1, dm, STATUS.installationFailed);
    expect(r1.reason).toBe('the device reported: post-install failed: exit code 3');
    expect(dm.calls.filter((c) => c.startsWith('push'))).toEqual([]);
    expect(dm.log().filter((l) => l.startsWith('fallback'))).toEqual([]);
    expect(dm.statuses()).toEqual([STATUS.installingSoftware, STATUS.installationFailed]);

    const boot = harness({ platform: 'symbian', bootstrapped: false, useDm: true, push: 'sms' });
    const r2 = await run(boot, null, async (handle) => {
      await boot.reached(STATUS.waitingForBootstrap);
      await handle.signal(downloadFailedSignal, { phase: 'post-install', detail: 'exit code 4' });
      return handle.result();
    });
    expectResult(r2, boot, STATUS.installationFailed);
    expect(r2.reason).toBe('the device reported: post-install failed: exit code 4');
    expect(boot.calls.filter((c) => c.startsWith('push'))).toEqual([]);
    expect(boot.log().join('\n')).not.toMatch(/not confirmed/);
  }, 60_000);

  it('push tickets are revoked when the job reaches any final status (issue 13 item 11)', async () => {
    const ok = harness({ platform: 'symbian', useDm: false, push: 'sms' });
    const r1 = await run(ok, 'final-revokes-tickets', async (handle) => {
      await ok.reached(STATUS.waitingForDownload);
      await handle.signal(downloadedSignal, { source: 'download' });
      await ok.reached(STATUS.downloadedWaitingForVerification);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      return handle.result();
    });
    expectResult(r1, ok, STATUS.downloadedVerified);
    expect(ok.calls).toEqual(['loadInstallContext', 'push:sms:1', REVOKED_WITH_TRANSITION]);
    expect(ok.log().slice(-2)).toEqual([
      'info: 1 download link revoked',
      'status: Downloaded – Waiting for verification → Downloaded – Verified (verified: the device reports version 4.2)',
    ]);

    const expired = harness({ platform: 'symbian', useDm: false, push: 'sms', maxPushAttempts: 1 });
    const r2 = await run(expired, null, async (handle) => handle.result());
    expectResult(r2, expired, STATUS.installationFailed);
    expect(expired.calls).toEqual(['loadInstallContext', 'push:sms:1', REVOKED_WITH_TRANSITION]);

    const dm = harness({
      platform: 'android',
      bootstrapped: true,
      useDm: true,
      push: 'sms',
      kind: 'other',
      files: [{ id: 'apk', format: 'apk' }],
    });
    const r3 = await run(dm, null, async (handle) => {
      await dm.reached(STATUS.installingSoftware);
      await handle.signal(dmInstallResultSignal, { success: true });
      return handle.result();
    });
    expectResult(r3, dm, STATUS.installed);
    expect(dm.calls).toEqual(['loadInstallContext', 'dmInstall:apk', REVOKED_WITH_TRANSITION]);

    // no ticket was ever made: nothing to revoke
    const none = harness({ platform: 'symbian', useDm: false, push: 'sms', installed: { 'DME Client': '9' } });
    await run(none, null, async (handle) => handle.result());
    expect(none.calls).toEqual(['loadInstallContext']);
  }, 60_000);

  it('the final transition revokes the links itself: no revokePushTickets before it, one marker fewer (issue 17)', async () => {
    const h = harness({ platform: 'symbian', useDm: false, push: 'sms' });
    const { r, history } = await run(h, null, async (handle) => {
      await h.reached(STATUS.waitingForDownload);
      await handle.signal(downloadedSignal, { source: 'download' });
      await h.reached(STATUS.downloadedWaitingForVerification);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      return { r: await handle.result(), history: await handle.fetchHistory() };
    });
    expectResult(r, h, STATUS.downloadedVerified);
    expect(h.calls).toEqual(['loadInstallContext', 'push:sms:1', REVOKED_WITH_TRANSITION]);
    expect(h.transitions.map((t) => t.revokeTickets === true)).toEqual([false, false, true]);
    // the log reads as before: the revoke note right before the final status
    expect(h.log().slice(-2)).toEqual([
      'info: 1 download link revoked',
      'status: Downloaded – Waiting for verification → Downloaded – Verified (verified: the device reports version 4.2)',
    ]);
    // one local-activity marker per database step: the load and three transitions
    const markers = (history.events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
    expect(markers).toHaveLength(4);
  });

  it('install revision 2 runs the same job as revision 1 without a patch marker or TemporalChangeVersion upsert (issue 17)', async () => {
    const verifiedPath = async (revision: number) => {
      const h = harness({ platform: 'symbian', useDm: false, push: 'sms', revision });
      const events = await run(h, null, async (handle) => {
        await h.reached(STATUS.waitingForDownload);
        await handle.signal(downloadedSignal, { source: 'download' });
        await h.reached(STATUS.downloadedWaitingForVerification);
        await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
        await handle.result();
        return (await handle.fetchHistory()).events ?? [];
      });
      const markers = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch').length;
      const changeVersions = events.filter(
        (e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.TemporalChangeVersion,
      ).length;
      return { statuses: h.statuses(), log: h.log(), calls: h.calls, markers, changeVersions, events: events.length };
    };
    const [legacy, current] = [await verifiedPath(1), await verifiedPath(INSTALL_REVISION)];
    expect({ statuses: current.statuses, log: current.log, calls: current.calls }).toEqual({
      statuses: legacy.statuses,
      log: legacy.log,
      calls: legacy.calls,
    });
    expect(legacy.markers).toBe(10);
    expect(legacy.changeVersions).toBeGreaterThan(0);
    expect({ markers: current.markers, changeVersions: current.changeVersions }).toEqual({ markers: 0, changeVersions: 0 });
    expect(legacy.events - current.events).toBe(10 + legacy.changeVersions);
  });

  it('cancel during verification: the software is on the device, the job keeps its status and ends by verification (issue 13 item 10)', async () => {
    const h = harness({ platform: 'symbian', useDm: false, push: 'sms' });
    const r = await run(h, 'cancel-in-verification-verified', async (handle) => {
      await h.reached(STATUS.waitingForDownload);
      await handle.signal(downloadedSignal, { source: 'download' });
      await h.reached(STATUS.downloadedWaitingForVerification);
      await waitingFor(handle, 'a system-info sync reporting 4.2');
      await handle.cancel();
      await expect.poll(() => h.log().some((l) => l.startsWith('info: cancel requested')), POLL).toBe(true);
      await handle.signal(sysinfoSyncedSignal, { installed: { 'DME Client': '4.2' } });
      return handle.result();
    });
    expectResult(r, h, STATUS.downloadedVerified);
    expect(h.statuses()).toEqual([STATUS.waitingForDownload, STATUS.downloadedWaitingForVerification, STATUS.downloadedVerified]);

    // … or by its timeout
    const dm = harness({ platform: 'symbian', bootstrapped: true, useDm: true, push: 'sms' });
    const r2 = await run(dm, 'cancel-in-verification-unknown', async (handle) => {
      await dm.reached(STATUS.installingSoftware);
      await handle.signal(dmInstallResultSignal, { success: true });
      await dm.reached(STATUS.installedWaitingForVerification);
      await waitingFor(handle, 'a system-info sync reporting 4.2');
      await handle.cancel();
      return handle.result();
    });
    expectResult(r2, dm, STATUS.unknownStatus);
    expect(dm.statuses()).toEqual([STATUS.installingSoftware, STATUS.installedWaitingForVerification, STATUS.unknownStatus]);
    expect(dm.log()).toContain(
      'info: cancel requested (the rollout was cancelled): the software has already reached the device, so the job keeps Installed – Waiting for verification and ends by its verification or its timeout',
    );
  }, 60_000);

  it('cancel during the DM phase: the DM link revoked, Cancelled, nothing pushed', async () => {
    const h = harness({ platform: 'symbian', bootstrapped: true, useDm: true, push: 'sms' });
    const err = await run(h, 'cancelled-in-dm-phase', async (handle) => {
      await h.reached(STATUS.installingSoftware);
      await waitingFor(handle, 'the DM install result');
      await handle.cancel();
      return handle.result().catch((e) => e);
    });
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(h.statuses()).toEqual([STATUS.installingSoftware, STATUS.cancelled]);
    expect(h.calls).toEqual(['loadInstallContext', 'dmInstall:file-1', REVOKED_WITH_TRANSITION]);
    expect(h.log().slice(-1)).toEqual(['status: Installing software → Cancelled (the rollout was cancelled)']);
  });

  it('cancel during a push retried through a gateway outage ends it at once (the wait has a way out)', async () => {
    const h = harness({ platform: 'symbian', useDm: false, push: 'sms', gatewayDownMs: 10 * DAY });
    const err = await run(h, null, async (handle) => {
      await expect.poll(() => h.calls.filter((c) => c === 'push-failed:sms:1').length, POLL).toBeGreaterThan(1);
      await handle.cancel();
      return handle.result().catch((e) => e);
    });
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(h.statuses()).toEqual([STATUS.cancelled]);
    expect(h.calls.at(-1)).toBe(REVOKED_WITH_TRANSITION);
  }, 60_000);
});
