/**
 * The install workflow: one installation job (rollout × device), SPEC R1–R8, V1–V4, issue 3.
 *
 *   load the job's facts ─► version decision (R8)
 *     newer ─► Not needed (final)
 *     same, DME client ─► … – Verified at once (final): `Installed – Verified` when the job would
 *                          have gone by DM (Use DM on, applicable, engine configured), else
 *                          `Downloaded – Verified`
 *     (same, other software: reinstalled to reconfigure; older: upgrade; none: install)
 *   file for the platform (R7) ─► none: Installation failed (final)
 *   DM (R1) when asked for, applicable and configured:
 *     not bootstrapped ─► Waiting for bootstrap ─► bootstrap ─► confirmation within bootstrapMs
 *     Installing software ─► DM install (package URL = ticket link) ─► result within dmInstallMs
 *       success: DME client ─► Installed – Waiting for verification ─► verification
 *                other ─► Installed (final)
 *     any failure / timeout ─► fallback to the push method (R3, V1; the log says why)
 *   push (R4–R6): ticket + SMS / WAP push (in-house iOS: SMS with the manifest link) or mark for
 *     installation ─► Waiting for download ─► `downloaded` before the ticket expires
 *       expired ─► push again with a new ticket, up to maxPushAttempts ─► Installation failed (final)
 *       downloaded: DME client ─► Downloaded – Waiting for verification ─► verification
 *                   other ─► Downloaded (final)
 *   verification (V2): a sync reporting the job's version within verificationMs ─► … – Verified,
 *     else Unknown status (final). A post-install failure reported by the device ─► Installation failed.
 *   cancellation (rollout cancelled) ─► tickets revoked, Cancelled (final), then the workflow ends
 *     as cancelled.
 *
 * Every transition: one activity writes the job row + its log rows (idempotent by the transition
 * counter `seq`), the workflow upserts InstallStatus / PushMethod, sets its current details and the
 * `status` query answers the same state. A final status is signalled to the parent rollout.
 * Signals are kept in workflow state whenever they arrive (early ones are not lost; duplicates are
 * harmless). Every wait is an input (`input.timeouts`), nothing is hard-coded.
 *
 * Since the `install-local-db-activities` patch the database activities (load, transition, revoke)
 * are local activities, and the ids and software attributes go with the first status upsert: about 20
 * fewer history events per install and much less work for the Temporal server (docs/performance.md).
 * Executions started before the patch keep their commands (test/workflow/histories/v1 replays them).
 */
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import {
  ActivityFailure,
  type ActivityOptions,
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  type LocalActivityOptions,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { DeliveryMethod, InstallActivities, InstallContext, LogEvent } from '../activities/install';
import { chooseFile, dmApplicability, effectivePushMethod } from '../domain/install-options';
import * as SA from '../domain/search-attributes';
import { type InstallStatus, isFinal, STATUS } from '../domain/status';
import { decideVersion, reportedVersion, reportsVersion } from '../domain/version';
import {
  bootstrapConfirmedSignal,
  dmInstallResultSignal,
  downloadedSignal,
  downloadFailedSignal,
  type InstallInput,
  type InstallResult,
  type InstallState,
  installFinishedSignal,
  installStatusQuery,
  type PushMethod,
  sysinfoSyncedSignal,
} from './messages';

/** Database writes and reads: retried until they succeed (the database may be down for a while). */
const DB_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
};
const db = proxyActivities<InstallActivities>(DB_OPTIONS);

/**
 * The same database work as local activities: run by the worker that runs the workflow task, recorded
 * as one marker event, no activity task through the server and no extra workflow task. Right for it:
 * short, idempotent PostgreSQL statements. Retried the same way (locally, then with server timers).
 */
const LOCAL_DB_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: DB_OPTIONS.startToCloseTimeout,
  retry: DB_OPTIONS.retry,
};
const localDb = proxyLocalActivities<InstallActivities>(LOCAL_DB_OPTIONS);

/** Workflow patch: database activities run as local activities; fewer search-attribute upserts. */
export const LOCAL_DB_ACTIVITIES_PATCH = 'install-local-db-activities';

type DbActivity = 'loadInstallContext' | 'recordInstallTransition' | 'revokePushTickets';
/** One database activity, local or regular (the proxies' mapped types do not resolve for a generic name). */
type DbCall<K extends DbActivity> = {
  executeWithOptions(
    options: ActivityOptions & LocalActivityOptions,
    args: Parameters<InstallActivities[K]>,
  ): Promise<Awaited<ReturnType<InstallActivities[K]>>>;
};

/** Gateway calls (push, DM engine): a bounded number of retries, then the workflow reacts (fallback / failure). */
const GATEWAY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 8 },
};
const gateways = proxyActivities<InstallActivities>(GATEWAY_OPTIONS);

/** Activity summaries make the event history in the Temporal UI read like the installation log. */
const summarized = <O extends ActivityOptions | LocalActivityOptions>(options: O, summary: string): O => ({
  ...options,
  summary,
});

/**
 * Activities that write (job row, tickets, messages, DM commands) run to their end even when the job is
 * cancelled meanwhile: the cancellation takes effect at the next wait. So a write can never land after
 * the cleanup's `Cancelled` row, and no ticket is minted after the cleanup revoked them.
 */
const atomic = <T>(fn: () => Promise<T>): Promise<T> => CancellationScope.nonCancellable(fn);

const METHOD_NAMES: Record<DeliveryMethod, string> = {
  dm: 'OMA DM',
  sms: 'SMS push',
  wap: 'WAP push',
  mark: 'Mark for installation',
};

/** "7d", "36h", "90m", "45s", "250ms" — for log messages. */
export function formatDuration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1_000, 's'],
  ];
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  for (const [size, unit] of units) if (ms >= size) return `${Math.round((ms / size) * 10) / 10}${unit}`;
  return `${ms}ms`;
}

function failureMessage(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

class Finished {
  constructor(
    readonly status: InstallStatus,
    readonly reason?: string,
  ) {}
}

export async function installWorkflow(input: InstallInput): Promise<InstallResult> {
  const { installationId, timeouts, options } = input;
  const workflowId = workflowInfo().workflowId;
  // Decided once, first thing: executions started before the patch keep their old commands.
  const local = patched(LOCAL_DB_ACTIVITIES_PATCH);

  /** A database activity: local since the patch, a regular activity in executions from before it. */
  const dbCall = <K extends DbActivity>(
    name: K,
    summary: string,
    args: Parameters<InstallActivities[K]>,
  ): Promise<Awaited<ReturnType<InstallActivities[K]>>> =>
    local
      ? (localDb[name] as unknown as DbCall<K>).executeWithOptions(summarized(LOCAL_DB_OPTIONS, summary), args)
      : (db[name] as unknown as DbCall<K>).executeWithOptions(summarized(DB_OPTIONS, summary), args);
  /** Search attributes that go with the next upsert (patched executions: the software, once known). */
  let pendingAttributes: SearchAttributeUpdatePair[] = [];

  // ---------------------------------------------------------------------------------------------
  // State: what the `status` query, the search attributes and the current details show.
  // ---------------------------------------------------------------------------------------------
  const state: InstallState = { installationId, status: null, method: null, pushAttempts: 0 };
  let seq = 0;
  let pendingNotes: { event: LogEvent; message: string }[] = [];
  let ctx: InstallContext | undefined;
  /** The software file this job delivers (R7), once chosen. */
  let fileId: string | undefined;

  // Signals: remembered whenever they arrive.
  let bootstrapConfirmed = false;
  let dmResult: { success: boolean; code?: number; detail?: string } | undefined;
  let downloaded: { source: 'download' | 'report'; ticket?: string } | undefined;
  let postInstallFailure: string | undefined;
  let lastDownloadFailure: string | undefined;
  const earlySyncs: Record<string, string>[] = [];
  let verifiedBy: string | undefined;
  let lastReported: string | undefined;

  const noteSync = (installed: Record<string, string>) => {
    if (!ctx) {
      earlySyncs.push(installed);
      return;
    }
    const v = reportedVersion(installed, ctx.software.name);
    if (v !== undefined) lastReported = v;
    if (verifiedBy === undefined && reportsVersion(installed, ctx.software)) verifiedBy = v;
  };

  setHandler(installStatusQuery, () => ({ ...state }));
  setHandler(bootstrapConfirmedSignal, () => {
    bootstrapConfirmed = true;
  });
  setHandler(dmInstallResultSignal, (r) => {
    dmResult ??= { success: !!r.success, code: r.code, detail: r.detail };
  });
  setHandler(downloadedSignal, (d) => {
    downloaded ??= { source: d?.source ?? 'download', ticket: d?.ticket };
  });
  setHandler(downloadFailedSignal, (f) => {
    const text = `${f?.phase ?? 'unknown phase'} failed${f?.detail ? `: ${f.detail}` : ''}`;
    if (f?.phase === 'post-install') postInstallFailure ??= text;
    else lastDownloadFailure = text;
  });
  setHandler(sysinfoSyncedSignal, (s) => {
    if (s?.installed && typeof s.installed === 'object') noteSync(s.installed);
  });

  const refreshDetails = () => {
    const lines = [`**${state.status ?? 'Starting'}**`];
    if (ctx)
      lines.push(`${ctx.software.name} ${ctx.software.version} → device ${ctx.device.externalId} (${ctx.device.platform})`);
    if (state.method) {
      const attempts =
        state.method !== 'dm' && state.pushAttempts > 0 ? ` · push ${state.pushAttempts} of ${options.maxPushAttempts}` : '';
      lines.push(`method: ${METHOD_NAMES[state.method]}${attempts}`);
    }
    if (state.waitingFor) lines.push(`waiting for ${state.waitingFor}${state.until ? ` until ${state.until}` : ''}`);
    if (state.detail) lines.push(state.detail);
    setCurrentDetails(lines.join('\n\n'));
  };

  const note = (event: LogEvent, message: string) => {
    pendingNotes.push({ event, message });
  };

  /** One transition: job row + log rows (pending notes first), search attributes, details. */
  const transition = async (to: InstallStatus | null, opts: { message?: string; detail?: string | null } = {}) => {
    const from = state.status;
    const notes = pendingNotes;
    pendingNotes = [];
    const mySeq = ++seq;
    const detail = opts.detail !== undefined ? opts.detail : (opts.message ?? null);
    const summary = to ? `${from ?? 'new'} → ${to}` : `log: ${notes.map((n) => n.event).join(', ') || 'details'}`;
    await atomic(() =>
      dbCall('recordInstallTransition', summary, [
        {
          installationId,
          seq: mySeq,
          workflowId,
          notes,
          ...(to ? { status: { from, to, final: isFinal(to), message: opts.message } } : {}),
          method: state.method,
          detail,
          ...(fileId ? { fileId } : {}),
        },
      ]),
    );
    if (to) state.status = to;
    state.detail = detail ?? undefined;
    upsertSearchAttributes([
      ...pendingAttributes,
      ...(to ? [{ key: SA.InstallStatus, value: to }] : []),
      ...(state.method ? [{ key: SA.PushMethod, value: state.method }] : []),
    ]);
    pendingAttributes = [];
    refreshDetails();
  };

  const finish = async (status: InstallStatus, reason?: string): Promise<never> => {
    await transition(status, { message: reason });
    throw new Finished(status, reason);
  };

  /** Waits until `pred()` or `ms` passed; a post-install failure ends the wait too. */
  const waitFor = async (pred: () => boolean, ms: number, what: string): Promise<boolean> => {
    state.waitingFor = what;
    state.until = new Date(Date.now() + ms).toISOString();
    refreshDetails();
    try {
      return await condition(() => pred() || postInstallFailure !== undefined, ms).then(() => pred());
    } finally {
      state.waitingFor = undefined;
      state.until = undefined;
    }
  };

  // ---------------------------------------------------------------------------------------------
  // Verification (V2)
  // ---------------------------------------------------------------------------------------------
  const verify = async (verified: InstallStatus): Promise<never> => {
    const sw = ctx!.software;
    const ok = await waitFor(
      () => verifiedBy !== undefined,
      timeouts.verificationMs,
      `a system-info sync reporting ${sw.version}`,
    );
    if (ok) {
      note('info', `the device reported ${sw.name} ${verifiedBy} at a system-info sync`);
      return finish(verified, `verified: the device reports version ${verifiedBy}`);
    }
    if (postInstallFailure) {
      note('error', `the device reported: ${postInstallFailure}`);
      return finish(STATUS.installationFailed, `the device reported: ${postInstallFailure}`);
    }
    return finish(
      STATUS.unknownStatus,
      `no system-info sync reported ${sw.name} ${sw.version} within ${formatDuration(timeouts.verificationMs)}` +
        (lastReported !== undefined ? ` (last reported version: ${lastReported})` : ' (no version reported)'),
    );
  };

  // ---------------------------------------------------------------------------------------------
  // DM path (R1–R3): returns the reason to fall back, or ends the job.
  // ---------------------------------------------------------------------------------------------
  const dmPath = async (): Promise<string> => {
    const { device, software } = ctx!;
    state.method = 'dm';
    if (!device.bootstrapped) {
      await transition(STATUS.waitingForBootstrap, { detail: 'the device is not bootstrapped: sending the OMA DM bootstrap' });
      try {
        await atomic(() =>
          gateways.dmBootstrap.executeWithOptions(summarized(GATEWAY_OPTIONS, 'send the OMA DM bootstrap'), [
            { installationId, deviceId: device.id },
          ]),
        );
      } catch (err) {
        if (isCancellation(err)) throw err;
        return `the bootstrap could not be sent: ${failureMessage(err)}`;
      }
      note('info', 'OMA DM bootstrap sent');
      const confirmed = await waitFor(() => bootstrapConfirmed, timeouts.bootstrapMs, 'the bootstrap confirmation');
      if (!confirmed) return `the bootstrap was not confirmed within ${formatDuration(timeouts.bootstrapMs)}`;
      note('info', 'bootstrap confirmed by the device');
    }
    await transition(STATUS.installingSoftware, { detail: `installing ${software.name} ${software.version} by OMA DM` });
    try {
      await atomic(() =>
        gateways.dmInstall.executeWithOptions(
          summarized(GATEWAY_OPTIONS, `OMA DM install of ${software.name} ${software.version}`),
          [
            {
              installationId,
              deviceId: device.id,
              fileId: fileId!,
              softwareName: software.name,
              softwareVersion: software.version,
              ticketLifetimeMs: timeouts.ticketLifetimeMs,
            },
          ],
        ),
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      return `the DM install could not be started: ${failureMessage(err)}`;
    }
    const answered = await waitFor(() => dmResult !== undefined, timeouts.dmInstallMs, 'the DM install result');
    if (!answered || !dmResult) return `no DM install result within ${formatDuration(timeouts.dmInstallMs)}`;
    if (!dmResult.success) {
      const code = dmResult.code !== undefined ? ` (code ${dmResult.code})` : '';
      return `the DM install failed${code}${dmResult.detail ? `: ${dmResult.detail}` : ''}`;
    }
    const code = dmResult.code !== undefined ? ` (code ${dmResult.code})` : '';
    note('info', `DM install succeeded${code}${dmResult.detail ? `: ${dmResult.detail}` : ''}`);
    if (software.kind !== 'dme-client') return finish(STATUS.installed, 'installed by OMA DM');
    await transition(STATUS.installedWaitingForVerification, { detail: 'installed by OMA DM; waiting for a system-info sync' });
    return verify(STATUS.installedVerified);
  };

  // ---------------------------------------------------------------------------------------------
  // Download-link path (R4–R6)
  // ---------------------------------------------------------------------------------------------
  const pushPath = async (method: PushMethod): Promise<never> => {
    const { device, software } = ctx!;
    if (method !== 'mark' && !device.msisdn) {
      note('fallback', `${METHOD_NAMES[method]} needs an MSISDN and the device has none: marked for installation instead`);
      method = 'mark';
    }
    state.method = method;
    const max = Math.max(1, Math.floor(options.maxPushAttempts));
    for (let attempt = 1; attempt <= max; attempt++) {
      state.pushAttempts = attempt;
      if (attempt > 1) {
        note('retry', `the link of push ${attempt - 1} expired without a download: push ${attempt} of ${max} with a new link`);
      }
      let sent: Awaited<ReturnType<InstallActivities['pushDownloadLink']>>;
      try {
        sent = await atomic(() =>
          gateways.pushDownloadLink.executeWithOptions(
            summarized(GATEWAY_OPTIONS, `${METHOD_NAMES[method]} ${attempt} of ${max}`),
            [
              {
                installationId,
                attempt,
                method,
                fileId: fileId!,
                ticketLifetimeMs: timeouts.ticketLifetimeMs,
                softwareName: software.name,
                softwareVersion: software.version,
                inHouseIos: software.inHouseIos,
                to: device.msisdn,
              },
            ],
          ),
        );
      } catch (err) {
        if (isCancellation(err)) throw err;
        note('error', `${METHOD_NAMES[method]} could not be sent: ${failureMessage(err)}`);
        return finish(STATUS.installationFailed, `${METHOD_NAMES[method]} could not be sent: ${failureMessage(err)}`);
      }
      const validity = `link valid for ${formatDuration(timeouts.ticketLifetimeMs)}`;
      if (method === 'mark') {
        note('push', `marked for installation (${validity}): the device gets the link at its next sync`);
      } else {
        const what = sent.link === 'manifest' ? 'with the iOS manifest link' : 'with the download link';
        note(
          'push',
          `${METHOD_NAMES[method]} ${attempt} of ${max} sent to ${device.msisdn} ${what} (${validity}; ${sent.transport ?? 'unknown transport'}${sent.duplicate ? ', already sent before' : ''})`,
        );
      }
      await transition(state.status === STATUS.waitingForDownload ? null : STATUS.waitingForDownload, {
        detail: `${METHOD_NAMES[method]} ${attempt} of ${max}; ${validity}`,
      });
      const got = await waitFor(() => downloaded !== undefined, timeouts.ticketLifetimeMs, 'the download');
      if (got) break;
      if (postInstallFailure) {
        note('error', `the device reported: ${postInstallFailure}`);
        return finish(STATUS.installationFailed, `the device reported: ${postInstallFailure}`);
      }
      if (attempt === max) {
        const last = lastDownloadFailure ? `; last device report: ${lastDownloadFailure}` : '';
        note(
          'error',
          `ticket expired: the link of push ${attempt} of ${max} was not downloaded within ${formatDuration(timeouts.ticketLifetimeMs)}`,
        );
        return finish(STATUS.installationFailed, `ticket expired: no download after ${max} push${max > 1 ? 'es' : ''}${last}`);
      }
    }
    note(
      'info',
      `the device downloaded the software (${downloaded!.source === 'report' ? 'download-end report' : 'last byte served'})`,
    );
    if (software.kind !== 'dme-client') return finish(STATUS.downloaded, 'downloaded');
    await transition(STATUS.downloadedWaitingForVerification, { detail: 'downloaded; waiting for a system-info sync' });
    return verify(STATUS.downloadedVerified);
  };

  // ---------------------------------------------------------------------------------------------
  // The job
  // ---------------------------------------------------------------------------------------------
  const run = async (): Promise<never> => {
    const ids: SearchAttributeUpdatePair[] = [
      { key: SA.RolloutId, value: input.rolloutId },
      { key: SA.DeviceId, value: input.deviceId },
    ];
    // The rollout sets the ids when it starts the job; since the patch they are only repeated with the
    // first status (for jobs started otherwise), in one upsert with the software.
    if (!local) upsertSearchAttributes(ids);
    refreshDetails();
    ctx = await dbCall('loadInstallContext', 'load device, software and inventory', [
      { installationId, deviceId: input.deviceId, softwareId: input.softwareId },
    ]);
    const { device, software } = ctx;
    for (const s of earlySyncs.splice(0)) noteSync(s);
    const softwareAttributes: SearchAttributeUpdatePair[] = [
      { key: SA.SoftwareName, value: software.name },
      { key: SA.SoftwareVersion, value: software.version },
    ];
    if (local) pendingAttributes = [...ids, ...softwareAttributes];
    else upsertSearchAttributes(softwareAttributes);

    const pushMethod = effectivePushMethod(software, options.push);
    const dmOk = options.useDm ? dmApplicability(software, device.platform) : undefined;
    const wouldUseDm = !!dmOk?.ok && ctx.dmConfigured;

    // R8
    const decision = decideVersion(device.installed, software);
    switch (decision.action) {
      case 'install':
        note('info', `version decision: install (the device reports no ${software.name})`);
        break;
      case 'upgrade':
        note('info', `version decision: upgrade from ${decision.installedVersion} to ${software.version}`);
        break;
      case 'reconfigure':
        note('info', `version decision: reconfigure (the device already reports ${software.name} ${decision.installedVersion})`);
        break;
      case 'newer':
        note(
          'info',
          `version decision: no action (the device reports ${decision.installedVersion}, newer than ${software.version})`,
        );
        return finish(
          STATUS.notNeeded,
          `the device already has ${software.name} ${decision.installedVersion}, newer than ${software.version}`,
        );
    }
    if (decision.action === 'reconfigure' && software.kind === 'dme-client') {
      state.method = wouldUseDm ? 'dm' : pushMethod;
      return finish(
        wouldUseDm ? STATUS.installedVerified : STATUS.downloadedVerified,
        `verified at once: the device already reports version ${decision.installedVersion}`,
      );
    }

    // R7 + platform support
    const file = chooseFile(software, device.platform);
    if (!file.ok) {
      note('error', `no file for this device: ${file.reason}`);
      return finish(STATUS.installationFailed, file.reason);
    }
    fileId = file.fileId;
    if (file.note) note('info', file.note);
    if (pushMethod !== options.push)
      note('info', `in-house iOS app: always SMS push with a manifest link (R6), not ${METHOD_NAMES[options.push]}`);

    if (options.useDm) {
      let fallback: string;
      if (!dmOk?.ok) fallback = `Use DM does not apply: ${dmOk?.reason}`;
      else if (!ctx.dmConfigured) fallback = 'no OMA DM engine is configured';
      else {
        fallback = await dmPath();
        // A download of the DM package URL (also a ticket link) is not a download of the push's link.
        downloaded = undefined;
      }
      note('fallback', `${fallback}: falling back to ${METHOD_NAMES[pushMethod]}`);
    }
    return pushPath(pushMethod);
  };

  const result = (status: InstallStatus, reason?: string): InstallResult =>
    reason === undefined
      ? { installationId, deviceId: input.deviceId, status }
      : { installationId, deviceId: input.deviceId, status, reason };

  /**
   * Tells the rollout this job is final. Never cancellable: a job that ends just as its rollout is
   * cancelled must still report, or the rollout would wait out its cancel grace period for it.
   */
  const notifyParent = (r: InstallResult) =>
    CancellationScope.nonCancellable(async () => {
      if (!input.parentWorkflowId) return;
      try {
        await getExternalWorkflowHandle(input.parentWorkflowId).signal(installFinishedSignal, r);
      } catch (err) {
        log.warn('could not signal the rollout (gone?)', { parent: input.parentWorkflowId, error: failureMessage(err) });
      }
    });

  try {
    await run();
    throw ApplicationFailure.nonRetryable('the install ended without a final status', 'InternalError');
  } catch (err) {
    if (err instanceof Finished) {
      const r = result(err.status, err.reason);
      await notifyParent(r);
      return r;
    }
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        const { revoked } = await dbCall('revokePushTickets', 'revoke download links', [{ installationId }]);
        state.waitingFor = undefined;
        state.until = undefined;
        if (revoked > 0) note('info', `${revoked} download link${revoked > 1 ? 's' : ''} revoked`);
        const reason = 'the rollout was cancelled';
        await transition(STATUS.cancelled, { message: reason });
        await notifyParent(result(STATUS.cancelled, reason));
      });
      throw err;
    }
    if (err instanceof ActivityFailure) {
      const reason = `error: ${failureMessage(err)}`;
      note('error', reason);
      await transition(STATUS.installationFailed, { message: reason });
      const r = result(STATUS.installationFailed, reason);
      await notifyParent(r);
      return r;
    }
    throw err;
  }
}
