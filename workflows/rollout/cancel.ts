/**
 * Cancelling a rollout (the `cancel` update, S9), one step per turn of the main loop: first the jobs
 * not started yet are marked Cancelled in Postgres; then the outstanding children are asked to cancel,
 * one page at a time; then the rollout waits for them to report, at most `cancelGraceMs`.
 */
import { condition } from '@temporalio/workflow';
import { STATUS } from '../../domain/status';
import { db } from './activities';
import { cancelInstall } from './children';
import type { RolloutScheduler } from './scheduler';

/** Statuses in which the software has reached the device (issue 13 item 10). */
const ARRIVED: ReadonlySet<string> = new Set([STATUS.installedWaitingForVerification, STATUS.downloadedWaitingForVerification]);

/**
 * Every cancel step done and every job final, or left to end on its own (its software had arrived):
 * the cancelled rollout can close.
 */
export function cancelSettled(r: RolloutScheduler): boolean {
  const c = r.cancelRequest;
  if (c === null || cancelStepsLeft(r) || !c.arrived?.length) return false;
  const open = c.arrived.filter((seq) => !r.finished.has(seq)).length;
  return r.finishedCount() + open >= r.total;
}

/** Whether a cancel step is left to do (else the rollout waits for the cancelled children). */
export function cancelStepsLeft(r: RolloutScheduler): boolean {
  const c = r.cancelRequest;
  return c !== null && (!c.notStartedDone || c.cursor < r.cursor);
}

export async function cancelStep(r: RolloutScheduler): Promise<void> {
  const { rolloutId, finished, tuning } = r;
  const c = r.cancelRequest as NonNullable<RolloutScheduler['cancelRequest']>;
  await r.flushStarted();
  if (!c.notStartedDone) {
    if (r.cursor < r.total) {
      await db.cancelNotStartedInstallations({ rolloutId, fromSeq: r.cursor, reason: c.reason });
      r.cancelNotStarted();
    }
    c.notStartedDone = true;
    c.cursor = finished.low;
    return;
  }
  // Cancel the outstanding children, one page at a time.
  const from = Math.max(c.cursor, finished.low);
  const rows = from < r.cursor ? await db.rolloutPage({ rolloutId, fromSeq: from, limit: tuning.pageSize }) : [];
  let targets = rows.filter((row) => row.seq < r.cursor && !finished.has(row.seq));
  if (r.patches.cancelSkipsArrived && targets.length > 0) {
    // A job whose software is already on the device is not cancelled and not waited for: it ends by its
    // verification or its timeout (its install keeps running: ABANDONed, it outlives the rollout).
    const statuses = await db.installationStatuses({ rolloutId, ids: targets.map((t) => t.id) });
    const arrived = new Set(statuses.filter((st) => !st.final && ARRIVED.has(st.status ?? '')).map((st) => st.id));
    const arrivedSeqs = targets.filter((t) => arrived.has(t.id)).map((t) => t.seq);
    c.arrived = [...(c.arrived ?? []), ...arrivedSeqs];
    targets = targets.filter((t) => !arrived.has(t.id));
  }
  for (let i = 0; i < targets.length; i += tuning.startBatchSize) {
    await Promise.all(targets.slice(i, i + tuning.startBatchSize).map((row) => cancelInstall(rolloutId, row)));
  }
  const last = rows[rows.length - 1];
  c.cursor = last && last.seq + 1 < r.cursor ? last.seq + 1 : r.cursor;
}

/** How much of the grace period for the cancelled children to report is left (ms; ≤ 0: over). */
export function cancelGraceLeft(r: RolloutScheduler): number {
  const c = r.cancelRequest as NonNullable<RolloutScheduler['cancelRequest']>;
  return c.requestedAt + r.tuning.cancelGraceMs - Date.now();
}

/** Waits for the cancelled children to report (or a wake-up), at most `leftMs`. */
export function awaitCancelledChildren(r: RolloutScheduler, leftMs: number): Promise<boolean> {
  const woken = r.wokenUp();
  return condition(() => r.allFinal() || cancelSettled(r) || woken(), leftMs);
}
