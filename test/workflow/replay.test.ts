/**
 * Replay of the recorded install workflow histories (test/workflow/histories/<set>/*.json; the current
 * set is recorded by `RECORD_HISTORIES=1 npx vitest run --project workflow test/workflow/install.test.ts`)
 * against the current workflow code: a change that makes the workflow nondeterministic for a recorded
 * path fails here. `v1` was recorded before the `install-local-db-activities` patch and replays through
 * its unpatched branch — executions started before an upgrade keep running after it; `v2` before the
 * patches of issue 13 (`ROBUST_ENDINGS_PATCHES`), `v3` with them, `v4` with the
 * `install-final-transition-revokes` patch too (issue 17: no `revokePushTickets` before the final
 * transition, the transition revokes), `v5` install revision 2 (every patch on, no patch markers). The rollout
 * workflow's control paths (`RECORD_HISTORIES=1 … test/workflow/rollout.test.ts`) likewise:
 * `rollout-v1` before the `rollout-update-waits-for-planned-times` patch, `rollout-v2` since, `rollout-v3`
 * with the liveness and spread patches as well, `rollout-v4` with the groups-and-safety patch (issue 14)
 * too — and the staged-rollout paths of rollout-groups.test.ts.
 */
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { FINAL_TRANSITION_REVOKES_PATCH, LOCAL_DB_ACTIVITIES_PATCH, ROBUST_ENDINGS_PATCHES } from '../../workflows/install';
import {
  ALERT_PATCH,
  CANCEL_SKIPS_ARRIVED_PATCH,
  CARRY_REPLAN_PATCH,
  GROUPS_PATCH,
  INSIDE_WINDOW_PATCH,
  PLANNED_TIMES_PATCH,
  SPREAD_PATCH,
  WATCH_CHILDREN_PATCH,
  WORKFLOW_CANCEL_PATCH,
} from '../../workflows/rollout';
import { HISTORY_SETS, type RecordedHistory, ROLLOUT_HISTORY_SETS, readHistories } from './install-histories';

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

/** The paths of issue 13 (install side), recorded since `v3`. */
const V3_PATHS = [
  'malformed-signals-ignored',
  'push-gateway-outage-1h',
  'push-send-timeout-failed',
  'push-rejected-failed',
  'no-file-r7-failed',
  'dm-result-timeout-sms',
  'bootstrap-send-failure-sms',
  'late-dm-success-verified',
  'sync-during-dm-verified',
  'sync-during-download-verified',
  'post-install-failure-dm-failed',
  'final-revokes-tickets',
  'cancel-in-verification-verified',
  'cancel-in-verification-unknown',
  'cancelled-in-dm-phase',
];

/** The patch ids a history's markers record (`core_patch` markers, JSON `{ id, deprecated }`). */
function patchesOf(h: RecordedHistory): string[] {
  return (h.history.events ?? [])
    .map((e) => e.markerRecordedEventAttributes)
    .filter((m) => m?.markerName === 'core_patch')
    .flatMap((m) => Object.values(m?.details ?? {}).flatMap((p) => p.payloads ?? []))
    .map((p) => (JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8')) as { id: string }).id);
}

/** The local activities a history ran, in order (`core_local_activity` markers, their `activity_type`). */
function localActivitiesOf(h: RecordedHistory): string[] {
  return (h.history.events ?? [])
    .map((e) => e.markerRecordedEventAttributes)
    .filter((m) => m?.markerName === 'core_local_activity')
    .flatMap((m) => m?.details?.data?.payloads ?? [])
    .map(
      (p) => (JSON.parse(Buffer.from(p.data ?? new Uint8Array()).toString('utf8')) as { activity_type: string }).activity_type,
    );
}

/** The history's database work ends with a `revokePushTickets` right before the final transition. */
const revokesBeforeFinal = (h: RecordedHistory) => {
  const la = localActivitiesOf(h);
  return la.at(-1) === 'recordInstallTransition' && la.at(-2) === 'revokePushTickets';
};

async function replay(histories: RecordedHistory[]) {
  const results: { workflowId: string; error?: unknown }[] = [];
  for await (const r of Worker.runReplayHistories(
    { workflowBundle: { codePath: inject('workflowBundlePath') } },
    histories.map(({ set, workflowId, history }) => ({ workflowId: `${set}/${workflowId}`, history })),
  )) {
    results.push({ workflowId: r.workflowId, error: r.error });
  }
  return results;
}

describe('install workflow histories replay', () => {
  it.each(HISTORY_SETS)('every path has a recorded history in %s', async (set) => {
    const names = (await readHistories()).filter((h) => h.set === set).map((h) => h.name);
    expect(names).toEqual(expect.arrayContaining(PATHS));
  });

  it.each(['v3', 'v4', 'v5'] as const)('%s also has the paths of issue 13', async (set) => {
    const names = (await readHistories([set])).map((h) => h.name);
    expect(names).toEqual(expect.arrayContaining(V3_PATHS));
  });

  it('v1 histories predate the local-activities patch, v2 and later carry it, v3 and v4 the issue-13 ones, only v4 the issue-17 one', async () => {
    const histories = await readHistories();
    for (const h of histories) {
      const patches = patchesOf(h);
      const history = `${h.set}/${h.name}`;
      expect({ history, carries: patches.includes(LOCAL_DB_ACTIVITIES_PATCH) }).toEqual({
        history,
        carries: h.set !== 'v1' && h.set !== 'v5',
      });
      for (const id of ROBUST_ENDINGS_PATCHES) {
        expect({ history, id, carries: patches.includes(id) }).toEqual({
          history,
          id,
          carries: h.set === 'v3' || h.set === 'v4',
        });
      }
      expect({ history, carries: patches.includes(FINAL_TRANSITION_REVOKES_PATCH) }).toEqual({
        history,
        carries: h.set === 'v4',
      });
    }
    // v2 runs its database work as local activities (markers), v1 as activity tasks
    const kinds = (set: string) =>
      histories
        .filter((h) => h.set === set)
        .flatMap((h) => h.history.events ?? [])
        .filter((e) => e.activityTaskScheduledEventAttributes)
        .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
    expect(kinds('v1')).toContain('recordInstallTransition');
    expect(kinds('v2')).not.toContain('recordInstallTransition');
    expect(kinds('v2')).not.toContain('loadInstallContext');
  });

  it('revision-2 histories (v5) record no patch marker and no TemporalChangeVersion upsert; v4 ones one of each per patch', async () => {
    const histories = await readHistories(['v4', 'v5']);
    const changeVersionUpserts = (h: RecordedHistory) =>
      (h.history.events ?? []).filter(
        (e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.TemporalChangeVersion,
      ).length;
    for (const h of histories) {
      const expected = h.set === 'v5' ? 0 : patchesOf(h).length;
      expect({ history: `${h.set}/${h.name}`, markers: patchesOf(h).length, upserts: changeVersionUpserts(h) }).toEqual({
        history: `${h.set}/${h.name}`,
        markers: h.set === 'v5' ? 0 : expect.any(Number),
        upserts: expected,
      });
    }
    const events = (set: string, name: string) =>
      histories.find((h) => h.set === set && h.name === name)?.history.events?.length ?? 0;
    // the verified SMS path: ten patches were twenty of its events
    expect(events('v4', 'final-revokes-tickets') - events('v5', 'final-revokes-tickets')).toBe(20);
  });

  it('v4 and v5 histories revoke the links with the final transition; v2 and v3 ones by a revokePushTickets right before it', async () => {
    const histories = await readHistories(['v2', 'v3', 'v4', 'v5']);
    const separate = (set: string) =>
      histories
        .filter((h) => h.set === set)
        .filter(revokesBeforeFinal)
        .map((h) => h.name);
    // the verified path, an expiry, a cancel: a separate revoke before the final transition until v4
    const paths = ['final-revokes-tickets', 'bootstrap-timeout-sms-verified', 'ticket-expiry-failed', 'cancelled-mid-wait'];
    expect(separate('v2')).toContain('cancelled-mid-wait');
    expect(separate('v3')).toEqual(expect.arrayContaining(paths));
    expect(separate('v4')).toEqual([]);
    expect(separate('v5')).toEqual([]);
    const v4 = histories.filter((h) => h.set === 'v4' && paths.includes(h.name));
    expect(v4.map((h) => h.name).sort()).toEqual([...paths].sort());
    for (const h of v4)
      expect({ name: h.name, last: localActivitiesOf(h).at(-1) }).toEqual({ name: h.name, last: 'recordInstallTransition' });
    // on the verified path the database work is one load and three transitions
    const verified = v4.find((h) => h.name === 'final-revokes-tickets');
    expect(verified && localActivitiesOf(verified)).toEqual([
      'loadInstallContext',
      'recordInstallTransition',
      'recordInstallTransition',
      'recordInstallTransition',
    ]);
  });

  it('all recorded histories replay without nondeterminism', async () => {
    const histories = await readHistories();
    const results = await replay(histories);
    expect(results).toHaveLength(histories.length);
    const failures = results.filter((r) => r.error).map((r) => `${r.workflowId}: ${String(r.error)}`);
    expect(failures).toEqual([]);
  });

  it('a history the code would not produce fails the replay (the check can fail)', async () => {
    const [first] = (await readHistories()).filter((h) => h.set === 'v1' && h.name === 'dm-bootstrapped-verified');
    expect(first).toBeDefined();
    const scheduled = first!.history.events?.find((e) => e.activityTaskScheduledEventAttributes);
    // the first activity the workflow schedules is loadInstallContext: pretend it had been another one
    scheduled!.activityTaskScheduledEventAttributes!.activityType = { name: 'dmBootstrap' };
    const results = await replay([first!]);
    expect(results).toHaveLength(1);
    expect(String(results[0]?.error)).toMatch(/nondetermin|Activity type|activity type|does not match/i);
  });
});

/** The rollout paths with control Updates, by history name (recorded by rollout.test.ts). */
const ROLLOUT_PATHS = ['pause-resume-across-midnight', 'quota-raise-and-cut', 'cancel-with-stubborn-child'];

describe('rollout workflow histories replay', () => {
  it.each(ROLLOUT_HISTORY_SETS)('every control path has a recorded history in %s', async (set) => {
    const names = (await readHistories([set])).map((h) => h.name);
    expect(names).toEqual(expect.arrayContaining(ROLLOUT_PATHS));
  });

  it('rollout-v4 also has the staged-rollout paths of issue 14', async () => {
    const names = (await readHistories(['rollout-v4'])).map((h) => h.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'groups-canary-succeeds',
        'groups-halt-resume',
        'groups-manual-approval',
        'groups-halt-continue-as-new',
      ]),
    );
  });

  it('rollout-v1 histories predate the planned-times patch, rollout-v2 histories carry it, rollout-v3 also the later ones, rollout-v4 the groups patch too', async () => {
    const later = [
      SPREAD_PATCH,
      INSIDE_WINDOW_PATCH,
      ALERT_PATCH,
      CARRY_REPLAN_PATCH,
      WATCH_CHILDREN_PATCH,
      CANCEL_SKIPS_ARRIVED_PATCH,
      WORKFLOW_CANCEL_PATCH,
    ];
    for (const h of await readHistories(ROLLOUT_HISTORY_SETS)) {
      const patches = patchesOf(h);
      const history = `${h.set}/${h.name}`;
      expect({ history, carries: patches.includes(PLANNED_TIMES_PATCH) }).toEqual({ history, carries: h.set !== 'rollout-v1' });
      expect({ history, later: later.filter((p) => patches.includes(p)) }).toEqual({
        history,
        later: h.set === 'rollout-v3' || h.set === 'rollout-v4' ? later : [],
      });
      expect({ history, groups: patches.includes(GROUPS_PATCH) }).toEqual({ history, groups: h.set === 'rollout-v4' });
    }
  });

  it('all recorded rollout histories replay without nondeterminism', async () => {
    const histories = await readHistories(ROLLOUT_HISTORY_SETS);
    const results = await replay(histories);
    expect(results).toHaveLength(histories.length);
    const failures = results.filter((r) => r.error).map((r) => `${r.workflowId}: ${String(r.error)}`);
    expect(failures).toEqual([]);
  });
});
