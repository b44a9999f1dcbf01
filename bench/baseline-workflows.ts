/**
 * THE BASELINE of the benchmark: the engine's own limit on this machine. Two minimal workflows that
 * make the same Temporal operations per device as DeviceRollout's rollout + install workflows on the
 * SMS happy path — the same activities (as no-ops: no PostgreSQL, no HTTP), the same search-attribute
 * upserts, the same timers and the same signals — on the same dev server, with their own worker and
 * task queue (bench/baseline-worker.ts). DeviceRollout / baseline is then the cost of everything the
 * product adds on top of Temporal (database writes, HTTP, the push channel, real logic).
 *
 * Per install (workflows/install.ts, SMS push, DME client, no DM):
 *   LOCAL activity loadInstallContext · activity pushDownloadLink (the device is told: here the
 *   driver in the benchmark process) · LOCAL activity recordInstallTransition + upsert (ids, software,
 *   Waiting for download) · timer ← signal `downloaded` (last byte served; the download-end report
 *   does not signal again) · LOCAL activity + upsert (Downloaded – Waiting for verification) · timer ←
 *   signal `sysinfoSynced` · LOCAL activity + upsert (Downloaded – Verified) · signal
 *   `installFinished` to the parent.
 * `baselineV1InstallWorkflow` keeps the mix from before the install workflow's
 * `install-local-db-activities` patch (regular activities, 5 upserts, 2 `downloaded` signals), for
 * comparisons with results measured before it (`--v1-baseline`).
 * Per rollout (workflows/rollout.ts, quota unlimited): state activity at start; per page of 500 one
 * page activity, one LOCAL activity (slot planning) and one mark-planned activity; children started
 * in groups of 100 (ABANDON, search attributes), one mark-started activity per group; continue-as-new
 * after 1,000 starts or 6,000 history events; at the end a state activity and a counts activity.
 * Paced (`--rate`, `startIntervalMs`): as the product's rollout with a daily quota spread over a window,
 * one child per slot, each slot a durable timer, the started marks written per 100 starts.
 */
import {
  allHandlersFinished,
  condition,
  defineSignal,
  getExternalWorkflowHandle,
  makeContinueAsNewFunc,
  ParentClosePolicy,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { DeviceId, InstallStatus, PushMethod, RolloutId, SoftwareName, SoftwareVersion } from '../domain/search-attributes';

export interface BaselineActivities {
  /** Stands for a PostgreSQL activity of the product (load, record transition, page, mark …). */
  noop(input: { step: string; id: string }): Promise<{ ok: true }>;
  /** Stands for pushDownloadLink: tells the simulated device (the benchmark process) to act. */
  push(input: { workflowId: string; seq: number }): Promise<{ sent: true }>;
  /** Stands for the last recordInstallTransition: records the completion instant. */
  final(input: { workflowId: string; seq: number }): Promise<{ ok: true }>;
  /** Stands for planRolloutSlots (a local activity in the product). */
  plan(input: { count: number }): Promise<{ slots: number }>;
}

export const baselineDownloadedSignal = defineSignal<[{ source: 'download' | 'report' }]>('downloaded');
export const baselineSyncedSignal = defineSignal<[{ installed: Record<string, string> }]>('sysinfoSynced');
export const baselineFinishedSignal = defineSignal<[{ seq: number; status: string }]>('installFinished');

const act = proxyActivities<BaselineActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
const local = proxyLocalActivities<BaselineActivities>({ startToCloseTimeout: '30s' });

export interface BaselineInstallInput {
  rolloutId: string;
  deviceId: string;
  seq: number;
  parentWorkflowId: string;
  waitMs: number;
}

/** The product's install mix (see the top of this file). */
export async function baselineInstallWorkflow(input: BaselineInstallInput): Promise<string> {
  const id = workflowInfo().workflowId;
  let downloaded = false;
  let synced = false;
  setHandler(baselineDownloadedSignal, () => {
    downloaded = true;
  });
  setHandler(baselineSyncedSignal, () => {
    synced = true;
  });
  await local.noop({ step: 'loadInstallContext', id });
  await act.push({ workflowId: id, seq: input.seq });
  await local.noop({ step: 'recordInstallTransition', id });
  upsertSearchAttributes([
    { key: RolloutId, value: input.rolloutId },
    { key: DeviceId, value: input.deviceId },
    { key: SoftwareName, value: 'Baseline Client' },
    { key: SoftwareVersion, value: '2.0' },
    { key: InstallStatus, value: 'Waiting for download' },
    { key: PushMethod, value: 'sms' },
  ]);
  if (!(await condition(() => downloaded, input.waitMs))) return 'Installation failed';
  await local.noop({ step: 'recordInstallTransition', id });
  upsertSearchAttributes([
    { key: InstallStatus, value: 'Downloaded – Waiting for verification' },
    { key: PushMethod, value: 'sms' },
  ]);
  if (!(await condition(() => synced, input.waitMs))) return 'Unknown status';
  await local.final({ workflowId: id, seq: input.seq });
  upsertSearchAttributes([
    { key: InstallStatus, value: 'Downloaded – Verified' },
    { key: PushMethod, value: 'sms' },
  ]);
  await getExternalWorkflowHandle(input.parentWorkflowId).signal(baselineFinishedSignal, {
    seq: input.seq,
    status: 'Downloaded – Verified',
  });
  return 'Downloaded – Verified';
}

/** The install mix before the `install-local-db-activities` patch (see the top of this file). */
export async function baselineV1InstallWorkflow(input: BaselineInstallInput): Promise<string> {
  const id = workflowInfo().workflowId;
  let downloaded = false;
  let synced = false;
  setHandler(baselineDownloadedSignal, () => {
    downloaded = true;
  });
  setHandler(baselineSyncedSignal, () => {
    synced = true;
  });
  upsertSearchAttributes([
    { key: RolloutId, value: input.rolloutId },
    { key: DeviceId, value: input.deviceId },
  ]);
  await act.noop({ step: 'loadInstallContext', id });
  upsertSearchAttributes([
    { key: SoftwareName, value: 'Baseline Client' },
    { key: SoftwareVersion, value: '2.0' },
  ]);
  await act.push({ workflowId: id, seq: input.seq });
  await act.noop({ step: 'recordInstallTransition', id });
  upsertSearchAttributes([
    { key: InstallStatus, value: 'Waiting for download' },
    { key: PushMethod, value: 'sms' },
  ]);
  if (!(await condition(() => downloaded, input.waitMs))) return 'Installation failed';
  await act.noop({ step: 'recordInstallTransition', id });
  upsertSearchAttributes([
    { key: InstallStatus, value: 'Downloaded – Waiting for verification' },
    { key: PushMethod, value: 'sms' },
  ]);
  if (!(await condition(() => synced, input.waitMs))) return 'Unknown status';
  await act.final({ workflowId: id, seq: input.seq });
  upsertSearchAttributes([
    { key: InstallStatus, value: 'Downloaded – Verified' },
    { key: PushMethod, value: 'sms' },
  ]);
  await getExternalWorkflowHandle(input.parentWorkflowId).signal(baselineFinishedSignal, {
    seq: input.seq,
    status: 'Downloaded – Verified',
  });
  return 'Downloaded – Verified';
}

export interface BaselineRolloutInput {
  rolloutId: string;
  total: number;
  waitMs: number;
  pageSize?: number;
  startBatchSize?: number;
  startsPerRun?: number;
  maxHistoryEvents?: number;
  /** `same`: the product's operation mix (default); `v1`: the mix before the local-activities patch. */
  variant?: 'same' | 'v1';
  /** Paced: one start every this many ms from the first (a timer per start), as a quota over a window. */
  startIntervalMs?: number;
  carry?: { cursor: number; finished: number; runs: number; firstStartAt?: number };
}

export const baselineInstallWorkflowId = (rolloutId: string, seq: number) => `baseline-install/${rolloutId}/${seq}`;

export async function baselineRolloutWorkflow(input: BaselineRolloutInput): Promise<{ finished: number; runs: number }> {
  const pageSize = input.pageSize ?? 500;
  const batchSize = input.startBatchSize ?? 100;
  const startsPerRun = input.startsPerRun ?? 1000;
  const maxHistory = input.maxHistoryEvents ?? 6000;
  const me = workflowInfo().workflowId;
  let cursor = input.carry?.cursor ?? 0;
  let finished = input.carry?.finished ?? 0;
  const runs = (input.carry?.runs ?? 0) + 1;
  let startsThisRun = 0;
  let pageLeft = 0;
  const interval = input.startIntervalMs;
  const firstStartAt = input.carry?.firstStartAt ?? Date.now();
  let unmarked = 0;
  setHandler(baselineFinishedSignal, () => {
    finished++;
  });
  const shouldContinueAsNew = () => {
    const info = workflowInfo();
    return startsThisRun >= startsPerRun || info.continueAsNewSuggested || info.historyLength >= maxHistory;
  };
  if (!input.carry) {
    upsertSearchAttributes([{ key: RolloutId, value: input.rolloutId }]);
    await act.noop({ step: 'setRolloutState', id: me });
  }
  while (finished < input.total) {
    if (shouldContinueAsNew()) {
      if (unmarked > 0) await act.noop({ step: 'markInstallationsStarted', id: me });
      await condition(allHandlersFinished);
      return makeContinueAsNewFunc<typeof baselineRolloutWorkflow>()({
        ...input,
        carry: { cursor, finished, runs, firstStartAt },
      });
    }
    if (cursor >= input.total) {
      await condition(() => finished >= input.total || shouldContinueAsNew());
      continue;
    }
    if (pageLeft === 0) {
      await act.noop({ step: 'rolloutPage', id: me });
      pageLeft = Math.min(pageSize, input.total - cursor);
      await local.plan({ count: pageLeft });
      await act.noop({ step: 'markInstallationsPlanned', id: me });
    }
    const n = interval ? 1 : Math.min(batchSize, pageLeft);
    if (interval) {
      const due = firstStartAt + cursor * interval;
      if (due > Date.now()) await sleep(due - Date.now());
    }
    await Promise.all(
      Array.from({ length: n }, (_, k) =>
        startChild(input.variant === 'v1' ? baselineV1InstallWorkflow : baselineInstallWorkflow, {
          workflowId: baselineInstallWorkflowId(input.rolloutId, cursor + k),
          parentClosePolicy: ParentClosePolicy.ABANDON,
          typedSearchAttributes: [
            { key: RolloutId, value: input.rolloutId },
            { key: DeviceId, value: `device-${cursor + k}` },
          ],
          args: [
            {
              rolloutId: input.rolloutId,
              deviceId: `device-${cursor + k}`,
              seq: cursor + k,
              parentWorkflowId: me,
              waitMs: input.waitMs,
            },
          ],
        }),
      ),
    );
    cursor += n;
    pageLeft -= n;
    startsThisRun += n;
    unmarked += n;
    if (!interval || unmarked >= batchSize || cursor >= input.total) {
      unmarked = 0;
      await act.noop({ step: 'markInstallationsStarted', id: me });
    }
  }
  await condition(allHandlersFinished);
  await act.noop({ step: 'setRolloutState', id: me });
  await act.noop({ step: 'rolloutCounts', id: me });
  return { finished, runs };
}
