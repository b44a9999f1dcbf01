/**
 * Replay of the recorded install workflow histories (test/workflow/histories/*.json, recorded by
 * `RECORD_HISTORIES=1 npx vitest run --project workflow test/workflow/install.test.ts`) against the
 * current workflow code: a change that makes the workflow nondeterministic for a recorded path fails here.
 */
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { readHistories } from './install-histories';

/** Every path issue 3 asks to show, by history name. */
const PATHS = [
  'dm-bootstrapped-verified',
  'bootstrap-timeout-sms-verified',
  'bootstrap-confirmed-dm-installed',
  'dm-failure-wap-verified',
  'ticket-expiry-failed',
  'verification-timeout-unknown',
  'other-dm-installed',
  'other-push-downloaded',
  'same-version-verified',
  'newer-not-needed',
  'inhouse-ios-sms-manifest',
  'mark-download-verified',
  'cancelled-mid-wait',
  'early-duplicate-signals',
];

async function replay(histories: Awaited<ReturnType<typeof readHistories>>) {
  const results: { workflowId: string; error?: unknown }[] = [];
  for await (const r of Worker.runReplayHistories(
    { workflowBundle: { codePath: inject('workflowBundlePath') } },
    histories.map(({ workflowId, history }) => ({ workflowId, history })),
  )) {
    results.push({ workflowId: r.workflowId, error: r.error });
  }
  return results;
}

describe('install workflow histories replay', () => {
  it('every path has a recorded history', async () => {
    const names = (await readHistories()).map((h) => h.name);
    expect(names).toEqual(expect.arrayContaining(PATHS));
  });

  it('all recorded histories replay without nondeterminism', async () => {
    const histories = await readHistories();
    const results = await replay(histories);
    expect(results).toHaveLength(histories.length);
    const failures = results.filter((r) => r.error).map((r) => `${r.workflowId}: ${String(r.error)}`);
    expect(failures).toEqual([]);
  });

  it('a history the code would not produce fails the replay (the check can fail)', async () => {
    const [first] = (await readHistories()).filter((h) => h.name === 'dm-bootstrapped-verified');
    expect(first).toBeDefined();
    const scheduled = first!.history.events?.find((e) => e.activityTaskScheduledEventAttributes);
    // the first activity the workflow schedules is loadInstallContext: pretend it had been another one
    scheduled!.activityTaskScheduledEventAttributes!.activityType = { name: 'dmBootstrap' };
    const results = await replay([first!]);
    expect(results).toHaveLength(1);
    expect(String(results[0]?.error)).toMatch(/nondetermin|Activity type|activity type|does not match/i);
  });
});
