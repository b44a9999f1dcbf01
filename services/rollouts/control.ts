/**
 * Controlling a running rollout: pause, resume, cancel and schedule changes are Updates of
 * its workflow. A request the workflow rejects is `conflict` (state) or `invalid` (schedule) with the
 * workflow's reason; a workflow that has ended is `conflict`; Temporal out of reach is `unavailable`.
 */
import { type Client, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, type UpdateDefinition } from '@temporalio/common';
import type { ScheduleRequest } from '../../domain/rollout-request';
import { isFinalRolloutState } from '../../domain/rollout-state';
import type { Schedule } from '../../domain/schedule';
import type { Db } from '../../infra/db';
import {
  approveGroupUpdate,
  cancelRolloutUpdate,
  changeScheduleUpdate,
  pauseRolloutUpdate,
  ROLLOUT_REJECTION,
  type RolloutProgress,
  resumeRolloutUpdate,
} from '../../workflows/messages';
import { conflict, invalid, ServiceError, unavailable } from '../errors';
import { scheduleError } from './prepare';
import { type RolloutRow, rolloutWorkflowIdOf } from './progress';

/** Runs a control Update; the workflow's rejections become `conflict` / `invalid` with its reason. */
async function control<Args extends unknown[]>(
  client: Client,
  row: RolloutRow,
  update: UpdateDefinition<RolloutProgress, Args, string>,
  args: Args,
): Promise<RolloutProgress> {
  if (isFinalRolloutState(row.state)) {
    throw conflict(`the rollout has ${row.state === 'completed' ? 'completed' : 'been cancelled'}`);
  }
  const handle = client.workflow.getHandle(rolloutWorkflowIdOf(row));
  try {
    return (await handle.executeUpdate(update.name, { args: args as unknown as [unknown, ...unknown[]] })) as RolloutProgress;
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
      const f = err.cause;
      if (f.type === ROLLOUT_REJECTION.notFound) throw new ServiceError('not-found', f.message);
      if (f.type === ROLLOUT_REJECTION.invalidSchedule) {
        const field = (f.details?.[0] as { field?: string } | undefined)?.field;
        throw invalid(f.message, field);
      }
      throw conflict(f.message);
    }
    if (err instanceof WorkflowNotFoundError) throw conflict('the rollout workflow is not running (it has ended)');
    throw unavailable('the workflow service is unavailable; retry later');
  }
}

/** Stops starting installs. */
export const pauseRollout = (temporal: Client, row: RolloutRow) => control(temporal, row, pauseRolloutUpdate, []);

/** Starts installs again, replanned from now. */
export const resumeRollout = (temporal: Client, row: RolloutRow) => control(temporal, row, resumeRolloutUpdate, []);

/** Stops starting installs, cancels the jobs not started and the running installs. */
export const cancelRollout = (temporal: Client, row: RolloutRow, reason?: string) =>
  control(temporal, row, cancelRolloutUpdate, [{ reason }]);

/**
 * Replaces the schedule: the change merged into the current schedule, checked (errors name
 * `schedule.<field>` like those of a new rollout; the time zone cannot change), sent to the workflow
 * and, once it accepted, stored.
 */
export async function changeRolloutSchedule(
  db: Db,
  temporal: Client,
  row: RolloutRow,
  change: ScheduleRequest,
): Promise<RolloutProgress> {
  const current = row.schedule;
  const next: Schedule = {
    perDay: change.perDay ?? current.perDay,
    startDate: change.startDate ?? current.startDate,
    weekdays: change.weekdays ?? current.weekdays,
    window: { start: change.window?.start ?? current.window.start, end: change.window?.end ?? current.window.end },
    timeZone: change.timeZone ?? current.timeZone,
  };
  const badSchedule = scheduleError(next);
  if (badSchedule) throw badSchedule;
  if (next.timeZone !== current.timeZone) {
    throw invalid(
      `schedule.timeZone: the time zone cannot change during a rollout (it is ${current.timeZone}): the daily quota is counted per calendar day of that zone`,
      'schedule.timeZone',
    );
  }
  const progress = await control(temporal, row, changeScheduleUpdate, [next]);
  await db('rollouts')
    .where({ id: row.id })
    .update({ schedule: JSON.stringify(next) });
  return progress;
}

/**
 * Approves group `index` of a rollout with manual approval (issue 14): it starts once the group before
 * it reached the success threshold. Checked against the stored groups first (404 for a group the
 * rollout does not have, 409 for automatic approval), then by the workflow (409 for a group approved
 * or started already); once accepted, stored.
 */
export async function approveRolloutGroup(db: Db, temporal: Client, row: RolloutRow, index: number): Promise<RolloutProgress> {
  const groups = row.groups ?? [];
  if (index >= groups.length) {
    throw new ServiceError(
      'not-found',
      groups.length === 0
        ? 'group not found: this rollout has no groups'
        : `group ${index} not found: this rollout has groups 0 … ${groups.length - 1}`,
    );
  }
  if (row.safety?.approval !== 'manual')
    throw conflict('this rollout approves its groups automatically (safety.approval "auto")');
  const progress = await control(temporal, row, approveGroupUpdate, [{ index }]);
  await db('rollouts')
    .where({ id: row.id })
    .update({ approved_groups: db.raw('array_append(array_remove(approved_groups, ?::int), ?::int)', [index, index]) });
  return progress;
}
