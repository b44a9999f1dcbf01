/**
 * The validators of the rollout's control updates (S9): a request that does not fit the rollout's
 * state is rejected with a reason (ApplicationFailure of a `ROLLOUT_REJECTION` type) before it is
 * accepted, and the workflow carries on.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { type Schedule, validateSchedule } from '../../domain/schedule';
import { ROLLOUT_REJECTION } from '../messages';
import type { RolloutScheduler } from './scheduler';

const conflict = (message: string) => ApplicationFailure.nonRetryable(message, ROLLOUT_REJECTION.conflict);

const notFound = (message: string) => ApplicationFailure.nonRetryable(message, ROLLOUT_REJECTION.notFound);

const invalidSchedule = (message: string, field: string) =>
  ApplicationFailure.create({ message, type: ROLLOUT_REJECTION.invalidSchedule, nonRetryable: true, details: [{ field }] });

/** Any control request: not once the rollout is over or cancelled. */
export function assertOpen(r: RolloutScheduler): void {
  if (r.state === 'completed') throw conflict('the rollout has completed');
  if (r.cancelRequest || r.state === 'cancelled') throw conflict('the rollout has been cancelled');
}

export function validatePause(r: RolloutScheduler): void {
  assertOpen(r);
  if (r.state === 'paused') throw conflict('the rollout is already paused');
  if (r.cursor >= r.total) throw conflict('every installation has already been started: nothing left to pause');
}

export function validateResume(r: RolloutScheduler): void {
  assertOpen(r);
  if (r.state !== 'paused') throw conflict(`the rollout is not paused (it is ${r.state})`);
}

/** A new schedule: valid, and in the same time zone (the daily quota is counted per day of that zone). */
export function validateScheduleChange(r: RolloutScheduler, next: Schedule): void {
  assertOpen(r);
  const errors = validateSchedule(next);
  if (errors.length > 0) {
    throw invalidSchedule(errors.map((e) => `schedule.${e.field}: ${e.message}`).join('; '), `schedule.${errors[0]?.field}`);
  }
  if (next.timeZone !== r.schedule.timeZone) {
    throw invalidSchedule(
      `schedule.timeZone: the time zone cannot change during a rollout (it is ${r.schedule.timeZone}): the daily quota is counted per calendar day of that zone`,
      'schedule.timeZone',
    );
  }
}

/** `approveGroup`: a group of this rollout (manual approval) not approved or started yet. */
export function validateApproveGroup(r: RolloutScheduler, req: unknown): void {
  assertOpen(r);
  const index = typeof req === 'object' && req !== null ? (req as { index?: unknown }).index : undefined;
  if (typeof index !== 'number' || !Number.isInteger(index)) throw notFound('approveGroup needs { index: <group index> }');
  if (!r.gate) throw notFound('this rollout has no groups to approve');
  const refusal = r.gate.approvalRefusal(index);
  if (refusal?.notFound) throw notFound(refusal.notFound);
  if (refusal?.conflict) throw conflict(refusal.conflict);
}
