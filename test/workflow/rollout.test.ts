/**
 * The rollout workflow on Temporal's time-skipping test server (issue 4, "Must show"): the real
 * rollout workflow and the real slot planning (local activity), a fake install child workflow
 * (rollout.workflows.ts) and in-memory doubles of the Postgres/mail activities (rollout.harness.ts).
 */
import { type WorkflowHandle, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Schedule, Weekday } from '../../domain/schedule';
import { DeviceId, RolloutId, RolloutState } from '../../domain/search-attributes';
import { STATUS } from '../../domain/status';
import {
  cancelRolloutUpdate,
  changeScheduleUpdate,
  installFinishedSignal,
  pauseRolloutUpdate,
  ROLLOUT_REJECTION,
  type RolloutInput,
  resumeRolloutUpdate,
  rolloutProgressQuery,
} from '../../workflows/messages';
import { createTimeSkippingEnv } from '../helpers/time-skipping';
import {
  bundleRolloutTestWorkflows,
  countBy,
  createRolloutWorker,
  DAY,
  FakeRolloutDb,
  HOUR,
  isoDay,
  MINUTE,
  mondayAfter,
  runRollout,
} from './rollout.harness';
import { installWorkflow, releaseSignal, rolloutWorkflow } from './rollout.workflows';

const MON_FRI: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];
const iso = (ms: number) => new Date(ms).toISOString();

describe('rolloutWorkflow (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let code: string;
  beforeAll(async () => {
    code = await bundleRolloutTestWorkflows();
  });
  // A test server per test: Temporal's Java test server can stop skipping time for good once an
  // abandoned child completes after its parent run closed (sdk-java #1540, #2392) — a test must not
  // inherit that from the one before.
  beforeEach(async () => {
    env = await createTimeSkippingEnv();
  });
  afterEach(async () => {
    await env?.teardown();
  });

  it('seed example: 10/day, 30 devices → exactly 10 starts on each of three selected days, one every 48 minutes from 09:00', async () => {
    const monday = mondayAfter(await env.currentTimeMs());
    const devices = Array.from({ length: 30 }, (_, i) => `d${i}:30:ok`);
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 10,
      startDate: monday.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const { worker, taskQueue } = await createRolloutWorker(env, code, fake.activities());
    const result = await worker.runUntil(
      env.client.workflow.execute(rolloutWorkflow, {
        taskQueue,
        workflowId: fake.workflowId,
        args: [fake.input(schedule)],
      }),
    );

    // the planned instants: Mon, Tue, Wed at 09:00 + i·48 min, i = 0…9
    const expected = [0, 1, 2].flatMap((d) =>
      Array.from({ length: 10 }, (_, i) => monday.ms + d * 24 * HOUR + 9 * HOUR + i * 48 * MINUTE),
    );
    expect(fake.starts.map((s) => s.seq)).toEqual(devices.map((_, i) => i));
    expect(fake.starts.map((s) => iso(s.plannedAt))).toEqual(expected.map(iso));
    // each child was started when the durable timer of its slot fired: the workflow time of that
    // workflow task is the planned instant plus the server's processing time (milliseconds)
    for (const s of fake.starts) {
      expect(s.startedAt).toBeGreaterThanOrEqual(s.plannedAt);
      expect(s.startedAt - s.plannedAt).toBeLessThan(MINUTE);
    }
    expect(fake.starts.map((s) => iso(s.startedAt).slice(0, 16))).toEqual(expected.map((ms) => iso(ms).slice(0, 16)));
    expect(countBy(fake.starts, (s) => isoDay(s.startedAt))).toEqual({
      [isoDay(monday.ms)]: 10,
      [isoDay(monday.ms + 24 * HOUR)]: 10,
      [isoDay(monday.ms + 48 * HOUR)]: 10,
    });
    expect(fake.starts.slice(0, 10).map((s) => iso(s.startedAt).slice(11, 16))).toEqual([
      '09:00',
      '09:48',
      '10:36',
      '11:24',
      '12:12',
      '13:00',
      '13:48',
      '14:36',
      '15:24',
      '16:12',
    ]);

    expect(result.state).toBe('completed');
    expect(result.counts).toEqual({ [STATUS.downloaded]: 30 });
    expect(result).toMatchObject({ total: 30, started: 30, finished: 30, outstanding: 0, remaining: 0, nextStartAt: null });
    expect(fake.states).toEqual([
      { state: 'running', completed: false },
      { state: 'completed', completed: true },
    ]);
    expect(fake.mails).toEqual([{ kind: 'summary', input: { rolloutId: fake.rolloutId, outcome: 'completed' } }]);

    // the children carry the rollout's search attributes
    const child = await env.client.workflow.getHandle(fake.childId(devices[0] as string)).describe();
    expect(child.status.name).toBe('COMPLETED');
    expect(child.typedSearchAttributes.get(RolloutId)).toBe(fake.rolloutId);
    expect(child.typedSearchAttributes.get(DeviceId)).toBe(devices[0]);
    const rollout = await env.client.workflow.getHandle(fake.workflowId).describe();
    expect(rollout.typedSearchAttributes.get(RolloutState)).toBe('completed');

    // deterministic: the recorded history replays (slot plans are local-activity markers in it)
    const history = await env.client.workflow.getHandle(fake.workflowId).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: { code } }, history, fake.workflowId);
  });

  const withRollout = <T>(
    fake: FakeRolloutDb,
    input: RolloutInput,
    body: (h: WorkflowHandle<typeof rolloutWorkflow>, at: (ms: number) => Promise<void>) => Promise<T>,
    record?: string,
  ): Promise<T> => runRollout(env, code, fake, input, body, record);

  const startsOn = (fake: FakeRolloutDb) => countBy(fake.starts, (s) => isoDay(s.startedAt));
  const hhmmOf = (fake: FakeRolloutDb, day: number) =>
    fake.starts.filter((s) => isoDay(s.startedAt) === isoDay(day)).map((s) => iso(s.startedAt).slice(11, 16));

  it('pause across midnight, then resume: nothing starts while paused, the daily quota holds, the next day starts afresh', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    const tue = mon.ms + DAY;
    const devices = Array.from({ length: 30 }, (_, i) => `d${i}:30:ok`);
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 10,
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };

    const result = await withRollout(
      fake,
      fake.input(schedule),
      async (h, at) => {
        await at(mon.ms + 12 * HOUR + 30 * MINUTE);
        const paused = await h.executeUpdate(pauseRolloutUpdate);
        expect(paused).toMatchObject({ state: 'paused', started: 5, nextStartAt: null });

        await at(mon.ms + 15 * HOUR);
        expect(fake.starts).toHaveLength(5); // nothing while paused
        const resumed = await h.executeUpdate(resumeRolloutUpdate);
        expect(resumed.state).toBe('running');
        // S5: what today still allows (10 − 5) spreads over the rest of the window, the first at once
        const resumedAt = Date.parse(resumed.nextStartAt ?? '');
        expect(resumedAt).toBeGreaterThanOrEqual(mon.ms + 15 * HOUR);
        expect(resumedAt).toBeLessThan(mon.ms + 15 * HOUR + MINUTE);
        // (by now the first may have started: then the next is 24 minutes later)
        expect([resumed.nextStartAt, iso(resumedAt + Math.floor((2 * HOUR - (resumedAt - mon.ms - 15 * HOUR)) / 5))]).toContain(
          (await h.query(rolloutProgressQuery)).nextStartAt,
        );

        await at(mon.ms + 16 * HOUR + 30 * MINUTE);
        await h.executeUpdate(pauseRolloutUpdate); // paused over midnight
        await at(tue + 10 * HOUR);
        expect(fake.starts).toHaveLength(9);
        await h.executeUpdate(resumeRolloutUpdate);
        return h.result();
      },
      'pause-resume-across-midnight',
    );

    // Monday: 5, then the 5 left spread over 15:00–17:00 (every 24 min) until the pause at 16:30
    expect(hhmmOf(fake, mon.ms)).toEqual(['09:00', '09:48', '10:36', '11:24', '12:12', '15:00', '15:24', '15:48', '16:12']);
    // Tuesday, resumed at 10:00: its 10 over 10:00–17:00 (every 42 min); Thursday: the last one
    expect(hhmmOf(fake, tue)).toEqual(['10:00', '10:42', '11:24', '12:06', '12:48', '13:30', '14:12', '14:54', '15:36', '16:18']);
    expect(startsOn(fake)).toEqual({
      [isoDay(mon.ms)]: 9,
      [isoDay(tue)]: 10,
      [isoDay(tue + DAY)]: 10,
      [isoDay(tue + 2 * DAY)]: 1,
    });
    // no start at all inside the paused intervals
    const pausedIntervals = [
      [mon.ms + 12.5 * HOUR, mon.ms + 15 * HOUR],
      [mon.ms + 16.5 * HOUR, tue + 10 * HOUR],
    ] as const;
    for (const s of fake.starts) {
      for (const [a, b] of pausedIntervals) expect(s.startedAt >= a && s.startedAt < b).toBe(false);
    }
    expect(result).toMatchObject({ state: 'completed', started: 30, finished: 30, counts: { [STATUS.downloaded]: 30 } });
    expect(fake.states.map((x) => x.state)).toEqual(['running', 'paused', 'running', 'paused', 'running', 'completed']);
  });

  it('quota change mid-rollout: a raise spreads the rest of the day anew, a cut below what started today stops today', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    const tue = mon.ms + DAY;
    const devices = Array.from({ length: 40 }, (_, i) => `d${i}:10:ok`);
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 10,
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };

    const result = await withRollout(
      fake,
      fake.input(schedule),
      async (h, at) => {
        await at(mon.ms + 12 * HOUR + 30 * MINUTE);
        expect(fake.starts).toHaveLength(5);
        // a slow database: the update answers only once the new planned times are written
        fake.plannedWriteDelayMs = 500;
        const raised = await h.executeUpdate(changeScheduleUpdate, { args: [{ ...schedule, perDay: 20 }] });
        expect(raised.schedule.perDay).toBe(20);
        const nextRow = fake.rows[raised.started]!;
        expect(iso(fake.planned.get(nextRow.id)!)).toBe(raised.nextStartAt);
        fake.plannedWriteDelayMs = 0;
        await at(tue + 11 * HOUR + 10 * MINUTE);
        const cut = await h.executeUpdate(changeScheduleUpdate, { args: [{ ...schedule, perDay: 5 }] });
        expect(cut.startsByDay[isoDay(tue)]).toBe(6);
        expect(cut.nextStartAt).toBe(iso(tue + DAY + 9 * HOUR)); // not today any more
        return h.result();
      },
      'quota-raise-and-cut',
    );

    // Monday: 5 at the 48-minute spacing, then the raise: 20 − 5 = 15 over 12:30–17:00 (every 18 min)
    expect(hhmmOf(fake, mon.ms)).toEqual([
      '09:00',
      '09:48',
      '10:36',
      '11:24',
      '12:12',
      '12:30',
      '12:48',
      '13:06',
      '13:24',
      '13:42',
      '14:00',
      '14:18',
      '14:36',
      '14:54',
      '15:12',
      '15:30',
      '15:48',
      '16:06',
      '16:24',
      '16:42',
    ]);
    // Tuesday: 6 at 20/day until 11:10, then the cut to 5/day (< 6 started): no more starts that day (S7)
    expect(hhmmOf(fake, tue)).toEqual(['09:00', '09:24', '09:48', '10:12', '10:36', '11:00']);
    expect(startsOn(fake)).toEqual({
      [isoDay(mon.ms)]: 20,
      [isoDay(tue)]: 6,
      [isoDay(tue + DAY)]: 5,
      [isoDay(tue + 2 * DAY)]: 5,
      [isoDay(tue + 3 * DAY)]: 4,
    });
    expect(hhmmOf(fake, tue + DAY)).toEqual(['09:00', '10:36', '12:12', '13:48', '15:24']);
    // the last, partial day: its 4 over the whole window
    expect(hhmmOf(fake, tue + 3 * DAY)).toEqual(['09:00', '11:00', '13:00', '15:00']);
    expect(result).toMatchObject({ state: 'completed', started: 40, finished: 40 });
  });

  /** The rejection of an update: its failure type and message (the workflow itself carries on). */
  async function rejection(p: Promise<unknown>): Promise<{ type?: string; message: string }> {
    const err = await p.then(
      () => {
        throw new Error('the update was accepted');
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (err as WorkflowUpdateFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    return { type: (cause as ApplicationFailure).type ?? undefined, message: (cause as ApplicationFailure).message };
  }

  it('cancel: no further starts, never-started jobs Cancelled, outstanding children cancelled; bad control requests are rejected with a reason', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    const tue = mon.ms + DAY;
    // children take 26 hours: Monday's first three (09:00, 09:48, and 10:00 when resumed) are final by
    // Tuesday 12:20, the rest outstanding (the next one ends 12:52:30);
    // seq 12 ignores cancellation (it finishes in its own time, after the rollout closed)
    const devices = Array.from({ length: 30 }, (_, i) => (i === 12 ? `d${i}:1560:stubborn` : `d${i}:1560:ok`));
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 10,
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };

    const result = await withRollout(
      fake,
      fake.input(schedule, { tuning: { cancelGraceMs: HOUR } }),
      async (h, at) => {
        await at(mon.ms + 10 * HOUR);
        expect(await rejection(h.executeUpdate(resumeRolloutUpdate))).toEqual({
          type: ROLLOUT_REJECTION.conflict,
          message: 'the rollout is not paused (it is running)',
        });
        await h.executeUpdate(pauseRolloutUpdate);
        expect(await rejection(h.executeUpdate(pauseRolloutUpdate))).toEqual({
          type: ROLLOUT_REJECTION.conflict,
          message: 'the rollout is already paused',
        });
        await h.executeUpdate(resumeRolloutUpdate);
        const badWindow = await rejection(
          h.executeUpdate(changeScheduleUpdate, { args: [{ ...schedule, window: { start: '17:00', end: '09:00' } }] }),
        );
        expect(badWindow.type).toBe(ROLLOUT_REJECTION.invalidSchedule);
        expect(badWindow.message).toMatch(/^schedule\.window\.end: .*overnight windows are not supported/);
        const badQuota = await rejection(h.executeUpdate(changeScheduleUpdate, { args: [{ ...schedule, perDay: 0 }] }));
        expect(badQuota.message).toMatch(/^schedule\.perDay: perDay must be a whole number from 1 to 10000/);
        const otherZone = await rejection(
          h.executeUpdate(changeScheduleUpdate, { args: [{ ...schedule, timeZone: 'Europe/Berlin' }] }),
        );
        expect(otherZone.message).toMatch(/^schedule\.timeZone: the time zone cannot change/);

        // 12:20: after Tuesday's 5th start (12:12), well before the fourth child ends (12:52:30) even on a loaded machine
        await at(tue + 12 * HOUR + 20 * MINUTE);
        const before = await h.query(rolloutProgressQuery);
        expect(before).toMatchObject({ state: 'running', started: 15, finished: 3, outstanding: 12, remaining: 15 });
        const cancelled = await h.executeUpdate(cancelRolloutUpdate, { args: [{ reason: 'wrong package' }] });
        // (`cancelling` is transient: under load the children may already have reported when the update returns)
        expect(cancelled).toMatchObject({ state: 'cancelled', remaining: 0, nextStartAt: null });
        expect(await rejection(h.executeUpdate(pauseRolloutUpdate))).toEqual({
          type: ROLLOUT_REJECTION.conflict,
          message: 'the rollout has been cancelled',
        });
        expect(await rejection(h.executeUpdate(cancelRolloutUpdate, { args: [{}] }))).toMatchObject({
          message: 'the rollout has been cancelled',
        });
        // Let every cancelled child report before time skipping resumes (`result()` unlocks it): the
        // Java test server may otherwise skip to a child's timer while that child's cancellation task —
        // which cancels the timer — is at the worker, refuse the task's completion as "invalid history
        // builder state for action" and strand the child (sdk-java #3088). Only the stubborn one stays.
        await expect
          .poll(async () => (await h.query(rolloutProgressQuery)).outstanding, { timeout: 30_000, interval: 100 })
          .toBe(1);
        return h.result();
      },
      'cancel-with-stubborn-child',
    );

    expect(fake.starts).toHaveLength(15); // none after the cancel
    expect(fake.cancelledFrom).toEqual([15]);
    // 3 final before the cancel, 15 never started, 11 children cancelled; the stubborn one was not
    // final when the grace period ended
    // final before the grace period ended (the time-skipping server may skip the grace period while a
    // loaded machine is still processing some children's cancellation: those count as outstanding)
    expect(result).toMatchObject({ state: 'cancelled', started: 15, remaining: 0, cancelling: false });
    expect(result.finished + result.outstanding).toBe(30);
    expect(result.outstanding).toBeGreaterThanOrEqual(1);
    // 3 were final at the cancel; on a loaded machine a fourth may finish while the cancel is processed
    const downloaded = result.counts[STATUS.downloaded] ?? 0;
    expect(downloaded).toBeGreaterThanOrEqual(3);
    expect(downloaded).toBeLessThanOrEqual(4);
    expect(result.counts).toEqual({ [STATUS.downloaded]: downloaded, [STATUS.cancelled]: result.finished - downloaded });
    // outstanding children were cancelled (seq 3 may have finished first on a loaded machine, see above)
    for (const i of downloaded > 3 ? [9, 10, 14] : [3, 9, 10, 14]) {
      const d = await env.client.workflow.getHandle(fake.childId(devices[i] as string)).describe();
      expect(d.status.name).toBe('COMPLETED');
      expect(await env.client.workflow.getHandle(fake.childId(devices[i] as string)).result(), `child ${i}`).toMatchObject({
        status: STATUS.cancelled,
      });
    }
    expect(fake.states.map((x) => x.state)).toEqual(['running', 'paused', 'running', 'cancelled', 'cancelled']);
    expect(fake.states.at(-1)).toEqual({ state: 'cancelled', completed: true });
    expect(fake.mails).toEqual([{ kind: 'summary', input: { rolloutId: fake.rolloutId, outcome: 'cancelled' } }]);
  });

  it('a child that already exists counts as started (no second install); one already final is counted from the database', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    // seq 1 runs for 14 days: longer than the wait until the rollout's first window (≤ 9 days)
    const devices = ['d0:60:ok', 'd1:20160:verified', 'd2:0:fail', 'd3:60:ok'];
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 'unlimited',
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const { worker, taskQueue } = await createRolloutWorker(env, code, fake.activities());
    const result = await worker.runUntil(async () => {
      const childInput = (seq: number) => {
        const row = fake.rows[seq]!;
        const input = fake.input(schedule);
        return {
          installationId: row.id,
          rolloutId: fake.rolloutId,
          deviceId: row.deviceId,
          softwareId: input.softwareId,
          options: input.options,
          timeouts: input.timeouts,
          parentWorkflowId: fake.workflowId,
        };
      };
      // seq 2: already over before the rollout starts (its report went nowhere; the database has it)
      const over = await env.client.workflow.execute(installWorkflow, {
        taskQueue,
        workflowId: fake.childId(devices[2]!),
        args: [childInput(2)],
      });
      fake.finalStatus.set(fake.rows[2]!.id, over.status);
      // seq 1: running when the rollout starts it
      const running = await env.client.workflow.start(installWorkflow, {
        taskQueue,
        workflowId: fake.childId(devices[1]!),
        args: [childInput(1)],
      });
      const r = await env.client.workflow.execute(rolloutWorkflow, {
        taskQueue,
        workflowId: fake.workflowId,
        args: [fake.input(schedule)],
      });
      // still the one run started before the rollout
      const desc = await env.client.workflow.getHandle(fake.childId(devices[1]!)).describe();
      expect(desc.runId).toBe(running.firstExecutionRunId);
      return r;
    });
    expect(fake.starts.map((s) => s.seq)).toEqual([0, 1, 2, 3]);
    expect(result).toMatchObject({
      state: 'completed',
      finished: 4,
      counts: { [STATUS.downloaded]: 2, [STATUS.downloadedVerified]: 1, [STATUS.installationFailed]: 1 },
    });
  });

  it('early alert: exactly one failure alert when failures reach the threshold, then the summary', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    const devices = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? `d${i}:${10 + i}:fail` : `d${i}:${10 + i}:ok`));
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 'unlimited',
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const { worker, taskQueue } = await createRolloutWorker(env, code, fake.activities());
    const result = await worker.runUntil(
      env.client.workflow.execute(rolloutWorkflow, {
        taskQueue,
        workflowId: fake.workflowId,
        args: [fake.input(schedule, { failureThreshold: 2 })],
      }),
    );
    expect(result.counts).toEqual({ [STATUS.downloaded]: 8, [STATUS.installationFailed]: 4 });
    expect(fake.mails.map((m) => m.kind)).toEqual(['alert', 'summary']);
    expect(fake.mails[0]?.input).toMatchObject({ rolloutId: fake.rolloutId, failures: 2, threshold: 2, total: 12 });
    // unlimited: every start at the first window start, in one batch
    expect(new Set(fake.starts.map((s) => s.plannedAt))).toEqual(new Set([mon.ms + 9 * HOUR]));
  });
  /** Resolves with the workflow's result, or rejects after `ms` of real time (a workflow task failing for ever). */
  function resultWithin<T>(p: Promise<T>, ms: number): Promise<T> {
    return Promise.race([
      p,
      new Promise<T>((_, reject) =>
        setTimeout(() => reject(new Error(`no result within ${ms} ms (workflow task failing?)`)), ms),
      ),
    ]);
  }

  it('a malformed installFinished signal (no id, null payload, no status) is logged and ignored: the rollout completes', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    const devices = ['d0:30:ok', 'd1:30:fail'];
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 'unlimited',
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const result = await withRollout(
      fake,
      fake.input(schedule),
      async (h) => {
        await h.signal(installFinishedSignal, null as never);
        await h.signal(installFinishedSignal, {} as never);
        await h.signal(installFinishedSignal, { installationId: 42, status: STATUS.downloaded } as never);
        await h.signal(installFinishedSignal, { installationId: fake.rows[0]!.id } as never);
        return resultWithin(h.result(), 60_000);
      },
      'malformed-signals',
    );
    expect(result).toMatchObject({ state: 'completed', finished: 2 });
    expect(result.counts).toEqual({ [STATUS.downloaded]: 1, [STATUS.installationFailed]: 1 });
    const failedTasks = (await env.client.workflow.getHandle(fake.workflowId).fetchHistory()).events?.filter(
      (e) => e.workflowTaskFailedEventAttributes,
    );
    expect(failedTasks).toEqual([]);
  });
  /**
   * 2/day over 09:00–09:05 on a Monday: slots 09:00 and 09:02:30 (one device per page: a plan per
   * start). The second plan's write fails `failures` times (retries 1 s, 2 s, … capped at 1 min), so
   * the 09:02:30 slot can only start that much later.
   */
  async function secondSlotDelayed(failures: number, name: string) {
    const mon = mondayAfter(await env.currentTimeMs());
    const fake = new FakeRolloutDb(['d0:5:ok', 'd1:5:ok']);
    const schedule: Schedule = {
      perDay: 2,
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '09:05' },
      timeZone: 'UTC',
    };
    fake.failPlannedWrites = { fromCall: 1, count: failures };
    const result = await withRollout(fake, fake.input(schedule, { tuning: { pageSize: 1 } }), (h) => h.result(), name);
    expect(result).toMatchObject({ state: 'completed', started: 2, finished: 2 });
    expect(fake.starts).toHaveLength(2);
    expect(iso(fake.starts[0]!.startedAt).slice(0, 16)).toBe(iso(mon.ms + 9 * HOUR).slice(0, 16));
    return { mon, second: fake.starts[1]! };
  }
  it('no start outside the window (S4): a slot delayed past the window end is not started late, the rest is re-planned', async () => {
    // 11 failures take ~6 minutes: due at ~09:06, late by less than the 10-minute tolerance but a minute
    // after the window
    const { mon, second } = await secondSlotDelayed(11, 'late-slot-after-window');
    // re-planned to the next day's window start
    expect(iso(second.startedAt).slice(0, 16)).toBe(iso(mon.ms + DAY + 9 * HOUR).slice(0, 16));
  });
  it('a slot due inside the window whose start comes a few seconds after the window end still starts that day', async () => {
    // 10 failures take ~303 s: the 09:02:30 slot can only start at ~09:05:03, seconds after the
    // window's end — as a timer firing late does
    const { mon, second } = await secondSlotDelayed(10, 'late-slot-within-window-grace');
    expect(iso(second.plannedAt).slice(0, 19)).toBe(iso(mon.ms + 9 * HOUR + 150_000).slice(0, 19));
    // started on Monday, within the 30 s grace after 09:05 — not moved to Tuesday
    expect(second.startedAt, iso(second.startedAt)).toBeGreaterThanOrEqual(mon.ms + 9 * HOUR + 5 * MINUTE);
    expect(second.startedAt, iso(second.startedAt)).toBeLessThan(mon.ms + 9 * HOUR + 5 * MINUTE + 30_000);
  });
  it('an alert mail that fails (SMTP down, ~30 minutes of retries) delays no start; the summary still goes out', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    // 20/day over 09:00–17:00: one every 24 minutes; the first job fails at 09:01 (threshold 1)
    const devices = Array.from({ length: 20 }, (_, i) => (i === 0 ? 'd0:1:fail' : `d${i}:10:ok`));
    const fake = new FakeRolloutDb(devices);
    fake.alertFails = true;
    const schedule: Schedule = {
      perDay: 20,
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const result = await withRollout(fake, fake.input(schedule, { failureThreshold: 1 }), (h) => h.result(), 'alert-mail-fails');
    expect(result).toMatchObject({ state: 'completed', started: 20, finished: 20 });
    expect(fake.alertAttempts).toBeGreaterThan(1); // retried
    expect(fake.starts.map((s) => iso(s.plannedAt).slice(11, 16)).slice(0, 3)).toEqual(['09:00', '09:24', '09:48']);
    for (const s of fake.starts) expect(s.startedAt - s.plannedAt, `seq ${s.seq}`).toBeLessThan(MINUTE);
    expect(fake.mails).toEqual([{ kind: 'summary', input: { rolloutId: fake.rolloutId, outcome: 'completed' } }]);
  });
  it('cancelling the rollout workflow itself (Temporal UI) does what the cancel Update does, also while paused', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    // children take 26 hours: none final on Monday
    const devices = Array.from({ length: 30 }, (_, i) => `d${i}:1560:ok`);
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 10,
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const result = await withRollout(
      fake,
      fake.input(schedule, { tuning: { cancelGraceMs: HOUR } }),
      async (h, at) => {
        await at(mon.ms + 12 * HOUR + 30 * MINUTE);
        await h.executeUpdate(pauseRolloutUpdate);
        await at(mon.ms + 13 * HOUR);
        expect(fake.starts).toHaveLength(5);
        await h.cancel();
        // let every cancelled child report before time skipping resumes (see the cancel test above)
        await expect
          .poll(async () => (await h.query(rolloutProgressQuery)).outstanding, { timeout: 30_000, interval: 100 })
          .toBe(0);
        return h.result();
      },
      'workflow-cancelled-while-paused',
    );
    expect(result).toMatchObject({ state: 'cancelled', started: 5, finished: 30, outstanding: 0, remaining: 0 });
    expect(result.counts).toEqual({ [STATUS.cancelled]: 30 });
    expect(fake.cancelledFrom).toEqual([5]);
    for (const d of devices.slice(0, 5)) {
      expect(await env.client.workflow.getHandle(fake.childId(d)).result()).toMatchObject({ status: STATUS.cancelled });
    }
    expect(fake.states.map((x) => x.state)).toEqual(['running', 'paused', 'cancelled', 'cancelled']);
    expect(fake.states.at(-1)).toEqual({ state: 'cancelled', completed: true });
    expect(fake.mails).toEqual([{ kind: 'summary', input: { rolloutId: fake.rolloutId, outcome: 'cancelled' } }]);
    const desc = await env.client.workflow.getHandle(fake.workflowId).describe();
    expect(desc.typedSearchAttributes.get(RolloutState)).toBe('cancelled');
  });
  it('continue-as-new with a resume Update in flight: the next run plans from now, as the resume asked', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    const devices = Array.from({ length: 12 }, (_, i) => `d${i}:10:ok:hold`);
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 10,
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    // 3 starts per run; every start's mark is written at once (batch of 1)
    const input = fake.input(schedule, { tuning: { startsPerRun: 3, startBatchSize: 1 } });
    let resumedAt = 0;
    const result = await withRollout(fake, input, async (h, at) => {
      await at(mon.ms + 10 * HOUR);
      fake.holdStartedMarks = true; // the 3rd start's mark (10:36) cannot be written: the run is held there
      await at(mon.ms + 10 * HOUR + 40 * MINUTE);
      expect(fake.starts).toHaveLength(2);
      await h.executeUpdate(pauseRolloutUpdate);
      await at(mon.ms + 11 * HOUR);
      const resumed = h.executeUpdate(resumeRolloutUpdate); // answers once the run hands over
      await at(mon.ms + 11 * HOUR + 5 * MINUTE);
      resumedAt = await env.currentTimeMs();
      fake.holdStartedMarks = false; // the mark is written, the run continues as new (3 starts)
      expect((await resumed).state).toBe('running');
      const result = await h.result();
      // (a held child whose 300-day bound the server skipped to after the rollout is already closed)
      for (const d of devices) {
        await env.client.workflow
          .getHandle(fake.childId(d))
          .signal(releaseSignal)
          .catch((err: unknown) => {
            if (!(err instanceof WorkflowNotFoundError)) throw err;
          });
      }
      return result;
    });
    expect(result).toMatchObject({ state: 'completed', started: 12, finished: 12 });
    expect(result.runs).toBeGreaterThan(1);
    // the 4th start is the first after the resume: at once (within the minute the mark's retry takes),
    // not at the old spacing after 10:36 (11:24)
    const fourth = fake.starts.find((s) => s.seq === 3)!;
    expect(fourth.startedAt).toBeGreaterThanOrEqual(resumedAt);
    expect(fourth.startedAt - resumedAt).toBeLessThan(2 * MINUTE);
    expect(countBy(fake.starts, (s) => isoDay(s.startedAt))).toEqual({ [isoDay(mon.ms)]: 10, [isoDay(mon.ms + DAY)]: 2 });
  });
  // (the time-skipping server does not tell a parent that its ABANDONed child was terminated — a real
  // server does, see test/integration/rollout-terminate.test.ts — so this goes by the reconciliation)
  it('a child terminated in the Temporal UI (no final signal): the rollout fails its job with the reason and completes', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    const devices = ['d0:30:ok', 'd1:600:ok', 'd2:30:fail'];
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 'unlimited',
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const result = await withRollout(
      fake,
      fake.input(schedule),
      async (h, at) => {
        await at(mon.ms + 10 * HOUR);
        expect(await h.query(rolloutProgressQuery)).toMatchObject({ started: 3, finished: 2 });
        fake.describeChild = async (id) => (await env.client.workflow.getHandle(id).describe()).status.name;
        await env.client.workflow.getHandle(fake.childId('d1:600:ok')).terminate('stuck: operator action');
        return resultWithin(h.result(), 60_000);
      },
      'child-terminated',
    );
    expect(result).toMatchObject({ state: 'completed', finished: 3, outstanding: 0 });
    expect(result.counts).toEqual({ [STATUS.downloaded]: 1, [STATUS.installationFailed]: 2 });
    expect(fake.lost).toEqual([{ id: fake.rows[1]!.id, reason: 'install workflow terminated without a final status' }]);
    // found by the reconciliation within its period (10 minutes) after the termination at 10:00
    const closed = await env.client.workflow.getHandle(fake.workflowId).describe();
    expect(closed.closeTime!.getTime() - (mon.ms + 10 * HOUR)).toBeLessThanOrEqual(11 * MINUTE);
    expect(fake.mails.map((m) => m.kind)).toEqual(['summary']);
  });
  it('cancel does not wait for jobs whose software is on the device: they keep running to verification, the rollout closes', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    // children take 26 hours; seq 1 is "Installed – Waiting for verification" when the cancel comes
    const devices = Array.from({ length: 6 }, (_, i) => `d${i}:1560:ok`);
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 'unlimited',
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const arrived = fake.rows[1]!;
    const result = await withRollout(
      fake,
      fake.input(schedule, { tuning: { cancelGraceMs: 10 * HOUR } }),
      async (h, at) => {
        await at(mon.ms + 10 * HOUR);
        fake.currentStatus.set(arrived.id, STATUS.installedWaitingForVerification);
        await h.executeUpdate(cancelRolloutUpdate, { args: [{ reason: 'wrong package' }] });
        // every other child reports Cancelled (let them, before time skipping resumes: see the cancel test)
        await expect.poll(async () => (await h.query(rolloutProgressQuery)).finished, { timeout: 30_000, interval: 100 }).toBe(5);
        return h.result();
      },
      'cancel-skips-arrived',
    );
    expect(result).toMatchObject({ state: 'cancelled', started: 6, finished: 5, outstanding: 1 });
    expect(result.counts).toEqual({ [STATUS.cancelled]: 5 });
    // closed without waiting out the grace period for the job whose software arrived
    const closed = await env.client.workflow.getHandle(fake.workflowId).describe();
    expect(closed.closeTime!.getTime() - (mon.ms + 10 * HOUR)).toBeLessThan(HOUR);
    // that child was not cancelled: it runs on after the rollout closed — still running, or (when the
    // server has skipped time to its end already) ended by itself (Downloaded), after the rollout
    const child = env.client.workflow.getHandle(fake.childId(arrived.deviceId));
    const d = await child.describe();
    if (d.status.name !== 'RUNNING') {
      expect(d.status.name).toBe('COMPLETED');
      expect(await child.result()).toMatchObject({ status: STATUS.downloaded });
      expect(d.closeTime!.getTime()).toBeGreaterThan(closed.closeTime!.getTime());
    }
    expect(fake.mails).toEqual([{ kind: 'summary', input: { rolloutId: fake.rolloutId, outcome: 'cancelled' } }]);
  });
  it('a DST day through the workflow (Europe/Berlin, 2027-03-28): the quota spread over the real, shorter window', async () => {
    const devices = Array.from({ length: 6 }, (_, i) => `d${i}:10:ok`);
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 3,
      startDate: '2027-03-28', // the spring-forward Sunday: 01:00 CET–05:00 CEST is 3 real hours
      weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
      window: { start: '01:00', end: '05:00' },
      timeZone: 'Europe/Berlin',
    };
    const result = await withRollout(fake, fake.input(schedule), (h) => h.result());
    expect(result).toMatchObject({ state: 'completed', started: 6, finished: 6 });
    expect(fake.starts.map((s) => iso(s.plannedAt))).toEqual([
      '2027-03-28T00:00:00.000Z', // 01:00 CET
      '2027-03-28T01:00:00.000Z', // 03:00 CEST
      '2027-03-28T02:00:00.000Z', // 04:00 CEST
      '2027-03-28T23:00:00.000Z', // Monday 01:00 CEST: 4 real hours, every 80 minutes
      '2027-03-29T00:20:00.000Z',
      '2027-03-29T01:40:00.000Z',
    ]);
    for (const s of fake.starts) expect(s.startedAt - s.plannedAt).toBeLessThan(MINUTE);
    // S7 per calendar day of Berlin: the start at 23:00 UTC counts for Monday
    expect(result.startsByDay).toEqual({ '2027-03-28': 3, '2027-03-29': 3 });
  });

  it('unlimited changed to a number mid-day (while paused): the rest of the day gets the new quota, spread from now', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    const devices = Array.from({ length: 10 }, (_, i) => `d${i}:10:ok`);
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 'unlimited',
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const result = await withRollout(fake, fake.input(schedule), async (h, at) => {
      await at(mon.ms + 8 * HOUR);
      await h.executeUpdate(pauseRolloutUpdate);
      await at(mon.ms + 12 * HOUR);
      expect(fake.starts).toHaveLength(0);
      await h.executeUpdate(changeScheduleUpdate, { args: [{ ...schedule, perDay: 4 }] });
      await h.executeUpdate(resumeRolloutUpdate);
      return h.result();
    });
    expect(result).toMatchObject({ state: 'completed', started: 10, finished: 10 });
    // Monday: 4 over 12:00–17:00 (every 75 min); Tuesday 4 over the whole window; Wednesday the last 2
    expect(hhmmOf(fake, mon.ms)).toEqual(['12:00', '13:15', '14:30', '15:45']);
    expect(hhmmOf(fake, mon.ms + DAY)).toEqual(['09:00', '11:00', '13:00', '15:00']);
    expect(hhmmOf(fake, mon.ms + 2 * DAY)).toEqual(['09:00', '13:00']);
  });

  it('weekday and window changes mid-rollout: the next starts follow the new days and hours', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    const devices = Array.from({ length: 5 }, (_, i) => `d${i}:10:ok`);
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 2,
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const result = await withRollout(fake, fake.input(schedule), async (h, at) => {
      await at(mon.ms + 10 * HOUR);
      expect(fake.starts).toHaveLength(1);
      const changed = await h.executeUpdate(changeScheduleUpdate, {
        args: [{ ...schedule, weekdays: ['wed'], window: { start: '12:00', end: '14:00' } }],
      });
      expect(changed.nextStartAt).toBe(iso(mon.ms + 2 * DAY + 12 * HOUR));
      return h.result();
    });
    expect(result).toMatchObject({ state: 'completed', started: 5, finished: 5 });
    expect(fake.starts.map((s) => iso(s.startedAt).slice(0, 16))).toEqual(
      [
        mon.ms + 9 * HOUR,
        mon.ms + 2 * DAY + 12 * HOUR,
        mon.ms + 2 * DAY + 13 * HOUR,
        mon.ms + 9 * DAY + 12 * HOUR,
        mon.ms + 9 * DAY + 13 * HOUR,
      ].map((ms) => iso(ms).slice(0, 16)),
    );
  });
  it("continue-as-new while paused: the new run stays paused, then resumes with the day's quota and spread", async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    const devices = Array.from({ length: 20 }, (_, i) => `d${i}:60:ok:hold`);
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 10,
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    const input = fake.input(schedule, { tuning: { maxHistoryEvents: 150 } });
    const result = await withRollout(fake, input, async (h, at) => {
      await at(mon.ms + 12 * HOUR + 30 * MINUTE);
      const paused = await h.executeUpdate(pauseRolloutUpdate);
      // while paused, stray signals (ignored) grow the history past maxHistoryEvents: the run continues as new
      const stranger = { installationId: 'ffffffff-ffff-4fff-8fff-ffffffffffff', deviceId: 'x', status: STATUS.downloaded };
      const pausedRun = (await h.describe()).runId;
      for (let i = 0; i < 200; i++) await h.signal(installFinishedSignal, stranger);
      // watched without queries: one that meets the continue-as-new stops the test server's time skipping
      await expect.poll(async () => (await h.describe()).runId, { timeout: 30_000, interval: 200 }).not.toBe(pausedRun);
      const continued = await h.query(rolloutProgressQuery);
      expect(continued.runs).toBeGreaterThan(paused.runs);
      expect(continued).toMatchObject({ state: 'paused', started: 5, nextStartAt: null });
      await at(mon.ms + 15 * HOUR);
      expect(fake.starts).toHaveLength(5);
      await h.executeUpdate(resumeRolloutUpdate);
      const out = await h.result();
      for (const d of devices) {
        await env.client.workflow
          .getHandle(fake.childId(d))
          .signal(releaseSignal)
          .catch((err: unknown) => {
            if (!(err instanceof WorkflowNotFoundError)) throw err;
          });
      }
      return out;
    });
    expect(result).toMatchObject({ state: 'completed', started: 20, finished: 20 });
    expect(result.runs).toBeGreaterThan(1);
    expect(hhmmOf(fake, mon.ms)).toEqual([
      '09:00',
      '09:48',
      '10:36',
      '11:24',
      '12:12',
      '15:00',
      '15:24',
      '15:48',
      '16:12',
      '16:36',
    ]);
    expect(startsOn(fake)).toEqual({ [isoDay(mon.ms)]: 10, [isoDay(mon.ms + DAY)]: 10 });
    expect(fake.states.map((x) => x.state)).toEqual(['running', 'paused', 'running', 'completed']);
  });
  it('continue-as-new while cancelling: the new run keeps the cancel, counts the late Cancelled child once, and closes cancelled', async () => {
    const mon = mondayAfter(await env.currentTimeMs());
    // 09:00, 09:48, 10:36 start before the cancel at 11:00: seq 0 is final (Downloaded at 09:30), seq 1
    // is cancelled at once, seq 2 ends its cancellation only when the test releases it
    const devices = Array.from({ length: 10 }, (_, i) =>
      i === 0 ? `d${i}:30:ok` : i === 2 ? `d${i}:1560:manual:hold` : `d${i}:1560:ok`,
    );
    const stubborn = devices[2]!;
    const fake = new FakeRolloutDb(devices);
    const schedule: Schedule = {
      perDay: 10,
      startDate: mon.date,
      weekdays: MON_FRI,
      window: { start: '09:00', end: '17:00' },
      timeZone: 'UTC',
    };
    // a grace period long enough that only the stubborn child's report can end the wait; a history
    // limit the cancel alone stays under (≈ 143 events on a quiet machine, more when the worker is slow
    // and events come in tasks of their own) but the stray signals below pass: a query that meets a
    // continue-as-new on the test server is never answered and stops its time skipping
    const input = fake.input(schedule, { tuning: { maxHistoryEvents: 250, cancelGraceMs: 3 * DAY } });
    const result = await withRollout(fake, input, async (h, at) => {
      await at(mon.ms + 11 * HOUR);
      expect(await h.query(rolloutProgressQuery)).toMatchObject({ state: 'running', started: 3, finished: 1 });
      await h.executeUpdate(cancelRolloutUpdate, { args: [{ reason: 'wrong package' }] });
      // every cancel step done, seq 1 reported: the run waits for the stubborn child alone
      await expect
        .poll(async () => (await h.query(rolloutProgressQuery)).outstanding, { timeout: 30_000, interval: 100 })
        .toBe(1);
      const cancelling = await h.query(rolloutProgressQuery);
      expect(cancelling).toMatchObject({ state: 'cancelled', cancelling: true, started: 3, finished: 9, remaining: 0 });
      // stray signals (ignored) grow the history past maxHistoryEvents: the waiting run continues as new
      const stranger = { installationId: 'ffffffff-ffff-4fff-8fff-ffffffffffff', deviceId: 'x', status: STATUS.downloaded };
      const cancellingRun = (await h.describe()).runId;
      for (let i = 0; i < 200; i++) await h.signal(installFinishedSignal, stranger);
      // watched without queries (see above): a new run of the workflow id
      await expect.poll(async () => (await h.describe()).runId, { timeout: 30_000, interval: 200 }).not.toBe(cancellingRun);
      // the new run is still cancelling: no start, nothing counted again, the stubborn child awaited
      await at(mon.ms + DAY + 11 * HOUR);
      const continued = await h.query(rolloutProgressQuery);
      expect(continued.runs).toBeGreaterThan(cancelling.runs);
      expect(continued).toMatchObject({
        state: 'cancelled',
        cancelling: true,
        started: 3,
        finished: 9,
        outstanding: 1,
        remaining: 0,
        nextStartAt: null,
        counts: { [STATUS.downloaded]: 1, [STATUS.cancelled]: 8 },
      });
      expect(fake.starts).toHaveLength(3);
      // the stubborn child ends its cancellation and reports Cancelled to the new run
      await env.client.workflow.getHandle(fake.childId(stubborn)).signal(releaseSignal);
      const out = await resultWithin(h.result(), 60_000);
      // it stays open until released again (a child closing after its parent run can stop time skipping)
      // — or until its 300-day bound, which the server may have skipped to once the rollout closed; its
      // result is awaited while the worker still runs
      await env.client.workflow
        .getHandle(fake.childId(stubborn))
        .signal(releaseSignal)
        .catch((err: unknown) => {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        });
      expect(await resultWithin(env.client.workflow.getHandle(fake.childId(stubborn)).result(), 60_000)).toMatchObject({
        status: STATUS.cancelled,
      });
      return out;
    });
    expect(result).toMatchObject({
      state: 'cancelled',
      cancelling: false,
      started: 3,
      finished: 10,
      outstanding: 0,
      remaining: 0,
    });
    expect(result.runs).toBeGreaterThan(1);
    // every job final once: 1 Downloaded before the cancel, 7 never started, seq 1 and the stubborn seq 2 Cancelled
    expect(result.counts).toEqual({ [STATUS.downloaded]: 1, [STATUS.cancelled]: 9 });
    expect(fake.starts.map((s) => s.seq)).toEqual([0, 1, 2]);
    expect(fake.cancelledFrom).toEqual([3]);
    expect(await env.client.workflow.getHandle(fake.childId(devices[1]!)).result()).toMatchObject({ status: STATUS.cancelled });
    // closed by the stubborn child's report, not by the end of the grace period
    const closed = await env.client.workflow.getHandle(fake.workflowId).describe();
    expect(closed.closeTime!.getTime()).toBeLessThan(mon.ms + 11 * HOUR + 3 * DAY);
    expect(closed.typedSearchAttributes.get(RolloutState)).toBe('cancelled');
    expect(fake.states).toEqual([
      { state: 'running', completed: false },
      { state: 'cancelled', completed: false },
      { state: 'cancelled', completed: true },
    ]);
    expect(fake.mails).toEqual([{ kind: 'summary', input: { rolloutId: fake.rolloutId, outcome: 'cancelled' } }]);
  });
});
