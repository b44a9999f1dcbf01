/**
 * The benchmark process's side of the baseline: it plays the devices (on `push`, after the same
 * reaction delay as a simulated device: the two `downloaded` signals — last byte served, download-end
 * report — then, after the sync delay, `sysinfoSynced`), starts the baseline rollout workflow and
 * collects the completion instants the baseline worker reports.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { createLimiter } from '../simulator/pool';
import {
  type BaselineRolloutInput,
  baselineDownloadedSignal,
  baselineInstallWorkflowId,
  baselineSyncedSignal,
} from './baseline-workflows';
import type { IpcChild } from './stack';

export const BASELINE_TASK_QUEUE = 'bench-baseline';

export interface BaselineRun {
  rolloutId: string;
  workflowId: string;
  installWorkflowIds: string[];
  startedAt: number;
  /** Completion instants (epoch ms) of every install. */
  completions: number[];
  /** Push instant (the push activity ran) and completion instant per install seq. */
  pushAt: Map<number, number>;
  finalAt: Map<number, number>;
  /** Rollout start → last install final (or the time limit). */
  elapsedMs: number;
  timedOut: boolean;
  signalsSent: number;
  signalErrors: number;
}

export async function waitReady(child: IpcChild, timeoutMs = 180_000): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the baseline worker did not get ready')), timeoutMs);
    child.child.on('message', (m: any) => {
      if (m?.t === 'ready') {
        clearTimeout(t);
        resolve();
      }
    });
    child.child.once('exit', (code) => reject(new Error(`the baseline worker exited (${code})`)));
  });
}

export async function runBaseline(
  client: Client,
  child: IpcChild,
  o: {
    total: number;
    syncDelayMs: number;
    reactionMs: number;
    concurrency: number;
    /** After this the baseline rollout is terminated (children left idle). */
    timeLimitMs: number;
    variant?: 'same' | 'v1';
    /** Paced: one start every this many ms (the rollout's timers), as a quota spread over a window. */
    startIntervalMs?: number;
  },
): Promise<BaselineRun> {
  const rolloutId = randomUUID();
  const workflowId = `baseline-rollout/${rolloutId}`;
  const limit = createLimiter(o.concurrency);
  const completions: number[] = [];
  const pushAt = new Map<number, number>();
  const finalAt = new Map<number, number>();
  let signalsSent = 0;
  let signalErrors = 0;
  const abort = new AbortController();
  setMaxListeners(0, abort.signal);
  const pending = new Set<Promise<void>>();
  const signal = async (id: string, fn: (h: ReturnType<Client['workflow']['getHandle']>) => Promise<void>) => {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await limit(() => fn(client.workflow.getHandle(id)));
        signalsSent++;
        return;
      } catch {
        signalErrors++;
        await sleep(200 * 2 ** attempt, undefined, { signal: abort.signal }).catch(() => undefined);
      }
    }
  };
  const play = async (id: string) => {
    await sleep(Math.random() * o.reactionMs, undefined, { signal: abort.signal });
    await signal(id, (h) => h.signal(baselineDownloadedSignal, { source: 'download' }));
    if (o.variant === 'v1') await signal(id, (h) => h.signal(baselineDownloadedSignal, { source: 'report' }));
    await sleep(o.syncDelayMs, undefined, { signal: abort.signal });
    await signal(id, (h) => h.signal(baselineSyncedSignal, { installed: { 'Baseline Client': '2.0' } }));
  };
  const onMessage = (m: any) => {
    if (m?.t === 'push' && typeof m.workflowId === 'string' && m.workflowId.includes(rolloutId)) {
      pushAt.set(Number(m.seq), Date.now());
      const p = play(m.workflowId).catch(() => undefined);
      pending.add(p);
      void p.finally(() => pending.delete(p));
    } else if (m?.t === 'final' && typeof m.at === 'number') {
      completions.push(m.at);
      finalAt.set(Number(m.seq), m.at);
    }
  };
  child.child.on('message', onMessage);
  const input: BaselineRolloutInput = {
    rolloutId,
    total: o.total,
    waitMs: 60 * 60_000,
    variant: o.variant ?? 'same',
    ...(o.startIntervalMs ? { startIntervalMs: o.startIntervalMs } : {}),
  };
  const startedAt = Date.now();
  let timedOut = false;
  try {
    const handle = await client.workflow.start('baselineRolloutWorkflow', {
      taskQueue: BASELINE_TASK_QUEUE,
      workflowId,
      args: [input],
    });
    const limit = sleep(o.timeLimitMs, 'limit' as const, { signal: abort.signal }).catch(() => 'aborted' as const);
    const outcome = await Promise.race([handle.result().then(() => 'done' as const), limit]);
    if (outcome === 'limit') {
      timedOut = true;
      await handle.terminate('benchmark time limit').catch(() => undefined);
    }
  } finally {
    abort.abort();
    await Promise.allSettled([...pending]);
    child.child.off('message', onMessage);
  }
  const last = timedOut ? startedAt + o.timeLimitMs : completions.length ? Math.max(...completions) : Date.now();
  return {
    rolloutId,
    workflowId,
    installWorkflowIds: Array.from({ length: o.total }, (_, i) => baselineInstallWorkflowId(rolloutId, i)),
    startedAt,
    completions: timedOut ? completions.filter((c) => c <= startedAt + o.timeLimitMs) : completions,
    pushAt,
    finalAt,
    elapsedMs: last - startedAt,
    timedOut,
    signalsSent,
    signalErrors,
  };
}
