/**
 * Staged rollouts on the time-skipping server (issue 14, "Must show"): groups that start when the
 * group before them succeeded, the automatic halt on the error threshold (and the resume after it),
 * manual approval, the halt and the groups across continue-as-new, and the daily quota and windows
 * across groups. The real rollout workflow and slot planning; fake installs whose outcome is in the
 * device id (rollout.workflows.ts); in-memory activities (rollout.harness.ts).
 */
import { type WorkflowHandle, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RolloutSafety, resolveSafety, splitGroups } from '../../domain/groups';
import type { Schedule, Weekday } from '../../domain/schedule';
import { RolloutGroup, RolloutState } from '../../domain/search-attributes';
import { STATUS } from '../../domain/status';
import {
  approveGroupUpdate,
  installFinishedSignal,
  pauseRolloutUpdate,
  type RolloutInput,
  resumeRolloutUpdate,
  rolloutProgressQuery,
} from '../../workflows/messages';
import { createTimeSkippingEnv } from '../helpers/time-skipping';
import {
  bundleRolloutTestWorkflows,
  countBy,
  DAY,
  FakeRolloutDb,
  HOUR,
  isoDay,
  MINUTE,
  mondayAfter,
  runRollout,
} from './rollout.harness';
import { releaseSignal, type rolloutWorkflow } from './rollout.workflows';

const ALL_DAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const MON_FRI: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];
const iso = (ms: number) => new Date(ms).toISOString();
const hhmm = (ms: number) => iso(ms).slice(11, 16);

/** The workflow input's groups and safety, as services/rollouts/create.ts makes them. */
function staged(
  total: number,
  groups: { name: string; devices?: number | string }[],
  safety: Parameters<typeof resolveSafety>[0],
): { groups: NonNullable<RolloutInput['groups']>; safety: RolloutSafety } {
  const g = splitGroups(total, groups);
  if (!Array.isArray(g)) throw new Error(`test bug: ${g.message}`);
  return { groups: g, safety: resolveSafety(safety) };
}

describe('staged rollouts (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let code: string;
  beforeAll(async () => {
    code = await bundleRolloutTestWorkflows();
  });
  // a server per test (see rollout.test.ts: sdk-java #1540, #2392)
  beforeEach(async () => {
    env = await createTimeSkippingEnv();
  });
  afterEach(async () => {
    await env?.teardown();
  });

  const withRollout = <T>(
    fake: FakeRolloutDb,
    input: RolloutInput,
    body: (h: WorkflowHandle<typeof rolloutWorkflow>, at: (ms: number) => Promise<void>) => Promise<T>,
    record?: string,
  ): Promise<T> => runRollout(env, code, fake, input, body, record);

  /** Lets the `:hold` children go once the rollout is over (see rollout.workflows.ts). */
  async function release(fake: FakeRolloutDb, devices: string[]): Promise<void> {
    for (const d of devices) {
      await env.client.workflow
        .getHandle(fake.childId(d))
        .signal(releaseSignal)
        .catch((err: unknown) => {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        });
    }
  }

  const startsOfGroup = (fake: FakeRolloutDb, from: number, size: number) =>
    fake.starts.filter((s) => s.seq >= from && s.seq < from + size).sort((a, b) => a.seq - b.seq);

  it('3 groups: the canary succeeds, then the next group starts, then the last; RolloutGroup follows', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    // canary 2 (done at 09:30), early 3 (30 min each), rest 5
    const devices = [
      ...Array.from({ length: 2 }, (_, i) => `c${i}:30:ok`),
      ...Array.from({ length: 3 }, (_, i) => `e${i}:30:verified`),
      ...Array.from({ length: 5 }, (_, i) => `r${i}:30:ok`),
    ];
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 'unlimited',
      startDate: mon.date,
      weekdays: ALL_DAYS,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const input = fake.input(schedule, {
      ...staged(10, [{ name: 'canary', devices: 2 }, { name: 'early', devices: '30%' }, { name: 'rest' }], {
        successThreshold: '100%',
      }),
    });
    const result = await withRollout(
      fake,
      input,
      async (h, at) => {
        await at(mon.ms + 9 * HOUR + 10 * MINUTE);
        const p = await h.query(rolloutProgressQuery);
        expect(fake.starts.map((s) => s.seq)).toEqual([0, 1]); // unlimited, yet only the canary
        expect(p).toMatchObject({ state: 'running', started: 2, nextStartAt: null, pausedReason: null });
        expect(p.waitingFor).toMatchObject({ group: 1, name: 'early', reason: 'success-threshold' });
        expect(p.waitingFor?.message).toMatch(/100% of group 0 \(canary\) have succeeded: 0 of 2 so far/);
        expect(p.groups).toEqual([
          { index: 0, name: 'canary', total: 2, started: 2, succeeded: 0, failed: 0, state: 'running' },
          { index: 1, name: 'early', total: 3, started: 0, succeeded: 0, failed: 0, state: 'waiting' },
          { index: 2, name: 'rest', total: 5, started: 0, succeeded: 0, failed: 0, state: 'waiting' },
        ]);
        expect((await h.describe()).typedSearchAttributes.get(RolloutGroup)).toBe('canary');
        // the Temporal UI's current details of the rollout
        const meta = (await h.query('__temporal_workflow_metadata')) as { currentDetails?: string };
        expect(meta.currentDetails).toContain('- group 0 canary: running, 2/2 started, 0 succeeded, 0 failed');
        expect(meta.currentDetails).toContain('- group 1 early: waiting, 0/3 started');
        expect(meta.currentDetails).toMatch(/waiting: group 1 \(early\) starts once 100% of group 0 \(canary\)/);

        await at(mon.ms + 9 * HOUR + 45 * MINUTE);
        const q = await h.query(rolloutProgressQuery);
        expect(q.groups?.map((g) => g.state)).toEqual(['done', 'running', 'waiting']);
        expect(q.waitingFor).toMatchObject({ group: 2, name: 'rest' });
        expect((await h.describe()).typedSearchAttributes.get(RolloutGroup)).toBe('early');
        return h.result();
      },
      'groups-canary-succeeds',
    );
    expect(result).toMatchObject({ state: 'completed', started: 10, finished: 10 });
    expect(result.groups?.map((g) => [g.state, g.succeeded])).toEqual([
      ['done', 2],
      ['done', 3],
      ['done', 5],
    ]);
    // each group starts when the group before it has succeeded (its last job final), not before
    expect(startsOfGroup(fake, 0, 2).map((s) => hhmm(s.startedAt))).toEqual(['09:00', '09:00']);
    expect(startsOfGroup(fake, 2, 3).map((s) => hhmm(s.startedAt))).toEqual(['09:30', '09:30', '09:30']);
    expect(startsOfGroup(fake, 5, 5).map((s) => hhmm(s.startedAt))).toEqual(['10:00', '10:00', '10:00', '10:00', '10:00']);
    expect(fake.mails.filter((m) => m.kind === 'alert')).toEqual([]);
    const desc = await env.client.workflow.getHandle(fake.workflowId).describe();
    expect(desc.typedSearchAttributes.get(RolloutGroup)).toBe('rest');
    expect(desc.typedSearchAttributes.get(RolloutState)).toBe('completed');
  });

  it("the canary's failures reach the error threshold: the rollout halts itself, alerts, starts nothing more; a resume continues", async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    // canary 6 (two fail after 10 minutes), rest 6; 6 a day over 09:00–17:00: one every 80 minutes
    const devices = [
      'c0:10:fail',
      'c1:10:unk',
      ...Array.from({ length: 4 }, (_, i) => `c${i + 2}:30:ok`),
      ...Array.from({ length: 6 }, (_, i) => `r${i}:30:ok`),
    ];
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 6,
      startDate: mon.date,
      weekdays: ALL_DAYS,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const input = fake.input(schedule, {
      ...staged(12, [{ name: 'canary', devices: 6 }, { name: 'rest' }], {
        successThreshold: '60%',
        errorThreshold: '50%',
        minFinished: 2,
      }),
    });
    let haltedAt = 0;
    const result = await withRollout(
      fake,
      input,
      async (h, at) => {
        // 09:00 c0 (fails 09:10), 10:20 c1 (Unknown status 10:30): 2 final, 2 failed ≥ 50 % → halt at 10:30
        await at(mon.ms + 10 * HOUR + 25 * MINUTE);
        expect((await h.query(rolloutProgressQuery)).state).toBe('running');
        await at(mon.ms + 14 * HOUR);
        const p = await h.query(rolloutProgressQuery);
        expect(p).toMatchObject({ state: 'paused', pausedReason: 'error-threshold', started: 2, nextStartAt: null });
        // the 11:40, 13:00 starts were due and not made; nothing of the next group either
        expect(fake.starts.map((s) => s.seq)).toEqual([0, 1]);
        expect(p.groups?.[0]).toMatchObject({ name: 'canary', started: 2, failed: 2, state: 'running' });
        expect(p.groups?.[1]).toMatchObject({ name: 'rest', started: 0, state: 'waiting' });
        expect(fake.pausedReasons).toContainEqual({ state: 'paused', pausedReason: 'error-threshold' });
        const alerts = fake.mails.filter((m) => m.kind === 'alert');
        expect(alerts).toHaveLength(1);
        expect(alerts[0]?.input).toMatchObject({
          rolloutId: fake.rolloutId,
          halt: { group: 0, name: 'canary', final: 2, failed: 2, threshold: '50%', halt: 1 },
        });
        expect((await h.describe()).typedSearchAttributes.get(RolloutState)).toBe('paused');
        // a manual pause is refused (already paused); the admin resumes
        await expect(h.executeUpdate(pauseRolloutUpdate)).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
        haltedAt = await env.currentTimeMs();
        const resumed = await h.executeUpdate(resumeRolloutUpdate);
        expect(resumed).toMatchObject({ state: 'running', pausedReason: null });
        return h.result();
      },
      'groups-halt-resume',
    );
    expect(result).toMatchObject({ state: 'completed', started: 12, finished: 12 });
    // after the resume: the rest of the canary (the day's 4 left, spread over 14:00–17:00), then,
    // once 4 of 6 (≥ 60 %) succeeded, the next group the day after (the quota of Monday is used up)
    const canaryRest = startsOfGroup(fake, 2, 4);
    expect(canaryRest.every((s) => s.startedAt >= haltedAt)).toBe(true);
    expect(canaryRest.map((s) => hhmm(s.startedAt))).toEqual(['14:00', '14:45', '15:30', '16:15']);
    expect(startsOfGroup(fake, 6, 6).every((s) => isoDay(s.startedAt) === isoDay(mon.ms + DAY))).toBe(true);
    expect(countBy(fake.starts, (s) => isoDay(s.startedAt))).toEqual({ [isoDay(mon.ms)]: 6, [isoDay(mon.ms + DAY)]: 6 });
    expect(fake.pausedReasons.map((r) => r.pausedReason)).toEqual([null, 'error-threshold', null]);
    expect(fake.mails.map((m) => m.kind)).toEqual(['alert', 'summary']);
  });

  it('the halt is immediate: a start already due when the failure arrives is not made', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    // 2 a day over 09:00–09:20: 09:00 and 09:10; c0 runs long, its failure is reported by the test
    const devices = ['c0:600:ok', 'c1:30:ok', 'r0:30:ok'];
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 2,
      startDate: mon.date,
      weekdays: ALL_DAYS,
      window: { start: '09:00', end: '09:20' },
      timeZone: 'UTC',
    };
    const input = fake.input(schedule, {
      ...staged(3, [{ name: 'canary', devices: 2 }, { name: 'rest' }], { errorThreshold: 1, minFinished: 1 }),
      tuning: { startBatchSize: 1 },
    });
    await withRollout(fake, input, async (h, at) => {
      // the database is down from before 09:00: the workflow is held writing the 09:00 start's mark
      // (retried), so the 09:10 slot falls due while it cannot start it
      await at(mon.ms + 8 * HOUR + 59 * MINUTE);
      fake.holdStartedMarks = true;
      await at(mon.ms + 9 * HOUR + 10 * MINUTE + 30_000);
      expect((await h.query(rolloutProgressQuery)).started).toBe(1);
      await h.signal(installFinishedSignal, {
        installationId: fake.rows[0]!.id,
        deviceId: devices[0]!,
        status: STATUS.installationFailed,
        reason: 'reported by the test',
      });
      fake.holdStartedMarks = false; // the mark is written; the loop goes on: to the due 09:10 start?
      await at(mon.ms + 9 * HOUR + 15 * MINUTE);
      expect(await h.query(rolloutProgressQuery)).toMatchObject({ state: 'paused', pausedReason: 'error-threshold', started: 1 });
      expect(fake.starts.map((s) => s.seq)).toEqual([0]); // the due 09:10 start was not made
      await h.executeUpdate(resumeRolloutUpdate);
      await expect.poll(() => fake.starts.length, { timeout: 30_000, interval: 200 }).toBe(2);
    });
    expect(fake.starts.find((s) => s.seq === 1)?.startedAt).toBeGreaterThanOrEqual(mon.ms + 9 * HOUR + 15 * MINUTE);
  });

  it('manual approval: the next group waits for the approveGroup update, also once the canary succeeded', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    const devices = ['c0:30:ok', 'c1:30:ok', 'r0:30:ok', 'r1:30:ok', 'r2:30:ok'];
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 'unlimited',
      startDate: mon.date,
      weekdays: ALL_DAYS,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const input = fake.input(schedule, {
      ...staged(5, [{ name: 'canary', devices: 2 }, { name: 'rest' }], { approval: 'manual', successThreshold: '100%' }),
    });
    const rejected = async (p: Promise<unknown>, message: RegExp) => {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(String((err as WorkflowUpdateFailedError).cause?.message)).toMatch(message);
    };
    const result = await withRollout(
      fake,
      input,
      async (h, at) => {
        await at(mon.ms + 9 * HOUR + 10 * MINUTE);
        expect((await h.query(rolloutProgressQuery)).groups?.[1]?.state).toBe('waiting');
        await at(mon.ms + 12 * HOUR);
        const p = await h.query(rolloutProgressQuery);
        expect(fake.starts).toHaveLength(2);
        expect(p.groups?.map((g) => g.state)).toEqual(['done', 'awaiting-approval']);
        expect(p.waitingFor).toMatchObject({
          group: 1,
          reason: 'approval',
          message: expect.stringMatching(/groups\/1\/approve/),
        });
        expect(p.nextStartAt).toBeNull();
        // bad requests are rejected with a reason; the workflow carries on
        await rejected(h.executeUpdate(approveGroupUpdate, { args: [{ index: 0 }] }), /needs no approval/);
        await rejected(h.executeUpdate(approveGroupUpdate, { args: [{ index: 7 }] }), /no group 7/);
        await rejected(h.executeUpdate(approveGroupUpdate, { args: [null as never] }), /needs \{ index/);
        await rejected(h.executeUpdate(approveGroupUpdate, { args: [{ index: '1' as never }] }), /needs \{ index/);
        const approved = await h.executeUpdate(approveGroupUpdate, { args: [{ index: 1 }] });
        expect(approved.groups?.[1]?.state).toBe('running');
        await rejected(h.executeUpdate(approveGroupUpdate, { args: [{ index: 1 }] }), /started already/);
        return h.result();
      },
      'groups-manual-approval',
    );
    expect(result).toMatchObject({ state: 'completed', started: 5, finished: 5 });
    expect(startsOfGroup(fake, 2, 3).map((s) => hhmm(s.startedAt))).toEqual(['12:00', '12:00', '12:00']);
  });

  it('halt and groups across continue-as-new: a canary larger than one run, halted in a later run, resumed', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    // canary 5 (2 fail), rest 5; 10 a day: one every 48 minutes; 3 starts per run
    const canary = ['c0:30:ok:hold', 'c1:30:ok:hold', 'c2:30:fail:hold', 'c3:30:ok:hold', 'c4:30:fail:hold'];
    const rest = Array.from({ length: 5 }, (_, i) => `r${i}:30:ok:hold`);
    const devices = [...canary, ...rest];
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 10,
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const input = fake.input(schedule, {
      ...staged(10, [{ name: 'canary', devices: 5 }, { name: 'rest' }], {
        successThreshold: '60%',
        errorThreshold: '40%',
        minFinished: 5,
      }),
      tuning: { startsPerRun: 3, startBatchSize: 1, maxHistoryEvents: 250 },
    });
    const result = await withRollout(
      fake,
      input,
      async (h, at) => {
        // canary: 09:00 … 12:12; its 5th job is final at 12:42: 2 of 5 failed (40 %) → halt, although its
        // 3 successes (60 %) release the next group
        await at(mon.ms + 13 * HOUR);
        const p = await h.query(rolloutProgressQuery);
        expect(p.runs).toBeGreaterThan(1);
        expect(p).toMatchObject({ state: 'paused', pausedReason: 'error-threshold', started: 5 });
        expect(p.groups).toEqual([
          { index: 0, name: 'canary', total: 5, started: 5, succeeded: 3, failed: 2, state: 'done' },
          { index: 1, name: 'rest', total: 5, started: 0, succeeded: 0, failed: 0, state: 'running' },
        ]);
        // stray signals grow the history past maxHistoryEvents while halted: the run continues as new
        const stranger = { installationId: 'ffffffff-ffff-4fff-8fff-ffffffffffff', deviceId: 'x', status: STATUS.downloaded };
        const haltedRun = (await h.describe()).runId;
        for (let i = 0; i < 200; i++) await h.signal(installFinishedSignal, stranger);
        // watched without queries: one that meets the continue-as-new stops the test server's time skipping
        await expect.poll(async () => (await h.describe()).runId, { timeout: 30_000, interval: 200 }).not.toBe(haltedRun);
        const q = await h.query(rolloutProgressQuery);
        expect(q.runs).toBeGreaterThan(p.runs);
        expect(q).toMatchObject({ state: 'paused', pausedReason: 'error-threshold', started: 5, groups: p.groups });
        await at(mon.ms + 14 * HOUR);
        expect(fake.starts).toHaveLength(5);
        expect(fake.mails.filter((m) => m.kind === 'alert')).toHaveLength(1);
        expect((await h.describe()).typedSearchAttributes.get(RolloutGroup)).toBe('rest');
        await h.executeUpdate(resumeRolloutUpdate);
        const out = await h.result();
        await release(fake, devices);
        return out;
      },
      'groups-halt-continue-as-new',
    );
    expect(result).toMatchObject({ state: 'completed', started: 10, finished: 10, pausedReason: null });
    expect(result.groups?.map((g) => [g.state, g.succeeded, g.failed])).toEqual([
      ['done', 3, 2],
      ['done', 5, 0],
    ]);
    // the rest of Monday's quota (5) spread from 14:00 over the rest of the window
    expect(startsOfGroup(fake, 5, 5).map((s) => hhmm(s.startedAt))).toEqual(['14:00', '14:36', '15:12', '15:48', '16:24']);
    expect(countBy(fake.starts, (s) => isoDay(s.startedAt))).toEqual({ [isoDay(mon.ms)]: 10 });
    expect(fake.mails.map((m) => m.kind)).toEqual(['alert', 'summary']);
  });

  it('quota and windows hold across groups: never more than perDay a day, only inside the window, only on selected days', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    const thu = mon.ms + 3 * DAY;
    // 3 groups of 3; 4 a day Mon–Fri 09:00–17:00 from Thursday: the groups wait over the weekend too
    const devices = Array.from({ length: 9 }, (_, i) => `d${i}:45:ok`);
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 4,
      startDate: isoDay(thu),
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const input = fake.input(schedule, {
      ...staged(9, [{ name: 'a', devices: 3 }, { name: 'b', devices: 3 }, { name: 'c' }], { successThreshold: '100%' }),
    });
    const result = await withRollout(fake, input, async (h) => h.result());
    expect(result).toMatchObject({ state: 'completed', started: 9, finished: 9 });
    const byDay = countBy(fake.starts, (s) => isoDay(s.startedAt));
    for (const n of Object.values(byDay)) expect(n).toBeLessThanOrEqual(4);
    for (const s of fake.starts) {
      const t = hhmm(s.startedAt);
      expect(t >= '09:00' && t < '17:00').toBe(true);
      expect([0, 6]).not.toContain(new Date(s.startedAt).getUTCDay());
    }
    // a group starts only after every job of the group before it succeeded (45 minutes after its last start)
    for (const [from, prev] of [
      [3, 0],
      [6, 3],
    ] as const) {
      const lastPrev = Math.max(...startsOfGroup(fake, prev, 3).map((s) => s.startedAt));
      expect(Math.min(...startsOfGroup(fake, from, 3).map((s) => s.startedAt))).toBeGreaterThanOrEqual(lastPrev + 45 * MINUTE);
    }
    // Thursday: a's 3 (09:00, 11:00, 13:00), then b's first once a succeeded (13:45); Friday: b's other 2, …
    expect(fake.starts.filter((s) => isoDay(s.startedAt) === isoDay(thu)).map((s) => hhmm(s.startedAt))).toEqual([
      '09:00',
      '11:00',
      '13:00',
      '13:45',
    ]);
    expect(byDay[isoDay(thu)]).toBe(4);
    expect(byDay[isoDay(thu + 2 * DAY)]).toBeUndefined(); // Saturday
  });
});
