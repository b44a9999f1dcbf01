/**
 * The install workflow: one installation job (rollout × device), SPEC R1–R8, V1–V4, issue 3.
 *
 *   load the job's facts ─► version decision (R8, install/run.ts)
 *     newer ─► Not needed (final)
 *     same, DME client ─► … – Verified at once (final): `Installed – Verified` when the job would
 *                          have gone by DM (Use DM on, applicable, engine configured), else
 *                          `Downloaded – Verified`
 *     (same, other software: reinstalled to reconfigure; older: upgrade; none: install)
 *   file for the platform (R7) ─► none: Installation failed (final)
 *   DM (R1, install/dm-phase.ts) when asked for, applicable and configured:
 *     not bootstrapped ─► Waiting for bootstrap ─► bootstrap ─► confirmation within bootstrapMs
 *     Installing software ─► DM install (package URL = ticket link) ─► result within dmInstallMs
 *       success: DME client ─► Installed – Waiting for verification ─► verification
 *                other ─► Installed (final)
 *     any failure / timeout ─► fallback to the push method (R3, V1; the log says why)
 *   push (R4–R6, install/push-phase.ts): ticket + SMS / WAP push (in-house iOS: SMS with the manifest
 *     link) or mark for installation ─► Waiting for download ─► `downloaded` before the ticket expires
 *       expired ─► push again with a new ticket, up to maxPushAttempts ─► Installation failed (final)
 *       downloaded: DME client ─► Downloaded – Waiting for verification ─► verification
 *                   other ─► Downloaded (final)
 *   verification (V2, install/verification.ts): a sync reporting the job's version within
 *     verificationMs ─► … – Verified, else Unknown status (final). A post-install failure reported by
 *     the device ─► Installation failed.
 *   cancellation (rollout cancelled) ─► tickets revoked, Cancelled (final), then the workflow ends
 *     as cancelled — except in `… – Waiting for verification`: the software is on the device, the job
 *     keeps its status and ends by its verification or its timeout (the cancel is logged).
 *   any phase: a late DM success or a sync reporting the job's version ends the job (no redundant
 *     push; the DM package link is revoked at the fallback); a post-install failure the device reports
 *     fails it, no push follows. A push is sent again while the gateway fails, until pushSendMs (24h).
 *     Every final status revokes the job's links.
 *
 * Every transition (install/state.ts) writes the job row + its log rows, upserts InstallStatus /
 * PushMethod and the current details; the `status` query answers the same state. A final status is
 * signalled to the parent rollout. Every wait is an input (`input.timeouts`), nothing is hard-coded.
 */
import { ActivityFailure, ApplicationFailure, isCancellation, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { cleanUpCancelled, failOnActivityError, notifyParent } from './install/outcome';
import { runInstall } from './install/run';
import { Finished, InstallJob, type InstallPatches } from './install/state';
import {
  bootstrapConfirmedSignal,
  dmInstallResultSignal,
  downloadedSignal,
  downloadFailedSignal,
  type InstallInput,
  type InstallResult,
  installStatusQuery,
  sysinfoSyncedSignal,
} from './messages';

/** Workflow patch: database activities run as local activities; fewer search-attribute upserts. */
export const LOCAL_DB_ACTIVITIES_PATCH = 'install-local-db-activities';
/** Workflow patch: every signal payload is checked; a malformed one is logged in the job's log and ignored. */
const CHECKED_SIGNALS_PATCH = 'install-signal-payloads-checked';
/** Workflow patch: a post-install failure reported during bootstrap or the DM install fails the job (no push). */
const DEVICE_FAILURE_PATCH = 'install-device-failure-ends-dm-phase';
/** Workflow patch: the job's download links are revoked when it reaches any final status. */
const REVOKE_WHEN_FINAL_PATCH = 'install-tickets-revoked-when-final';
/** Workflow patch: a late DM success or a sync reporting the job's version ends the job in any phase. */
const ARRIVAL_PATCH = 'install-arrival-ends-any-phase';
/** Workflow patch: cancelling a job whose software reached the device leaves its verification running. */
const CANCEL_KEEPS_ARRIVED_PATCH = 'install-cancel-keeps-arrived-software';
/** Workflow patch: a push is retried with capped backoff until the push send timeout. */
const PUSH_SEND_TIMEOUT_PATCH = 'install-push-send-timeout';
/** Workflow patch: a job already final when its install starts (its device retired) ends at once with that status. */
const ENDS_WHEN_FINAL_PATCH = 'install-ends-when-already-final';
/**
 * Workflow patch (issue 14): an in-house iOS job whose device has no MSISDN fails instead of being
 * marked for installation — it never degrades to a plain link (R6: SMS with the manifest link only).
 */
const IN_HOUSE_NEEDS_SMS_PATCH = 'install-in-house-ios-needs-sms';
/**
 * Workflow patch (issue 17): the final transition of a job that issued tickets (and the cancel's
 * `Cancelled`) revokes its links in the same database activity — one marker, one statement — instead
 * of a `revokePushTickets` local activity before it.
 */
export const FINAL_TRANSITION_REVOKES_PATCH = 'install-final-transition-revokes';
/** The patches every execution since the `v3` histories carries (test/workflow/replay.test.ts checks it). */
export const ROBUST_ENDINGS_PATCHES = [
  CHECKED_SIGNALS_PATCH,
  DEVICE_FAILURE_PATCH,
  REVOKE_WHEN_FINAL_PATCH,
  ARRIVAL_PATCH,
  CANCEL_KEEPS_ARRIVED_PATCH,
  PUSH_SEND_TIMEOUT_PATCH,
  ENDS_WHEN_FINAL_PATCH,
] as const;

export async function installWorkflow(input: InstallInput): Promise<InstallResult> {
  const { workflowId } = workflowInfo();
  const job = new InstallJob(input, workflowId, decidePatches(input));
  const { reports } = job;

  setHandler(installStatusQuery, () => job.snapshot());
  setHandler(bootstrapConfirmedSignal, () => reports.onBootstrapConfirmed());
  setHandler(dmInstallResultSignal, (r) => reports.onDmInstallResult(r));
  setHandler(downloadedSignal, (d) => reports.onDownloaded(d));
  setHandler(downloadFailedSignal, (f) => reports.onDownloadFailed(f));
  setHandler(sysinfoSyncedSignal, (s) => reports.onSysinfoSynced(s));

  try {
    await runInstall(job);
    throw ApplicationFailure.nonRetryable('the install ended without a final status', 'InternalError');
  } catch (err) {
    if (err instanceof Finished) {
      const r = job.result(err.status, err.reason);
      await notifyParent(job, r);
      return r;
    }
    if (isCancellation(err)) {
      await cleanUpCancelled(job);
      throw err;
    }
    if (err instanceof ActivityFailure) return failOnActivityError(job, err);
    throw err;
  }
}

/**
 * Install revision 2 (issue 17): a job started with `revision: 2` in its input (every rollout since)
 * runs with all the patches below applied and records no patch marker. Each `patched()` call costs the
 * history a marker event and an upsert of `TemporalChangeVersion` (a visibility write on the server):
 * ten of them were 20 of an install's 55 events. An execution without it (started before, or replayed
 * from an older history) decides each patch as it always did. A later patch goes in both branches.
 */
export const INSTALL_REVISION = 2;

function decidePatches(input: InstallInput): InstallPatches {
  if ((input.revision ?? 1) >= INSTALL_REVISION) {
    return {
      localDb: true,
      checkedSignals: true,
      deviceFailureEndsDm: true,
      revokeWhenFinal: true,
      arrivalEndsAnyPhase: true,
      cancelKeepsArrived: true,
      pushSendTimeout: true,
      endsWhenFinal: true,
      inHouseNeedsSms: true,
      finalTransitionRevokes: true,
    };
  }
  // Decided once, first thing: executions started before a patch keep their old commands.
  return {
    localDb: patched(LOCAL_DB_ACTIVITIES_PATCH),
    checkedSignals: patched(CHECKED_SIGNALS_PATCH),
    deviceFailureEndsDm: patched(DEVICE_FAILURE_PATCH),
    revokeWhenFinal: patched(REVOKE_WHEN_FINAL_PATCH),
    arrivalEndsAnyPhase: patched(ARRIVAL_PATCH),
    cancelKeepsArrived: patched(CANCEL_KEEPS_ARRIVED_PATCH),
    pushSendTimeout: patched(PUSH_SEND_TIMEOUT_PATCH),
    endsWhenFinal: patched(ENDS_WHEN_FINAL_PATCH),
    inHouseNeedsSms: patched(IN_HOUSE_NEEDS_SMS_PATCH),
    finalTransitionRevokes: patched(FINAL_TRANSITION_REVOKES_PATCH),
  };
}
