/**
 * Admin rollout API (SPEC "HTTP API") — the request parsed here, the work done by
 * services/rollouts/:
 *  - `POST /api/v1/rollouts` validates every field (zod schema of domain/rollout-request.ts, then the
 *    schedule rules, R1, R7), writes the rollout and all its jobs and starts the rollout workflow
 *    → 201 { id, workflowId, total };
 *  - `POST /api/v1/rollouts/preview` the same validation, nothing written or started → the planned start
 *    of every device (the first `limit` slots listed; the per-day counts always complete);
 *  - `GET /api/v1/rollouts/:id` state, counts, total, next start (the workflow's `progress` query while it
 *    runs; Postgres otherwise);
 *  - `POST /api/v1/rollouts/:id/pause|resume|cancel`, `PATCH /api/v1/rollouts/:id/schedule`: workflow
 *    Updates; a request the workflow rejects is a 409 (state conflict) or 400 (invalid schedule) with
 *    the workflow's reason.
 *
 * Planned order: `devices.ids` in the given order; `devices.filter` in registration order (created_at, id).
 */
import { Router } from 'express';
import { z } from 'zod';
import { groupOf } from '../../domain/groups';
import { CancelRequestSchema, RolloutRequestSchema, ScheduleChangeSchema } from '../../domain/rollout-request';
import { isoOrNull } from '../../domain/time';
import {
  approveRolloutGroup,
  cancelRollout,
  changeRolloutSchedule,
  pauseRollout,
  resumeRollout,
} from '../../services/rollouts/control';
import { createRollout, type RolloutDeps } from '../../services/rollouts/create';
import { previewRollout } from '../../services/rollouts/prepare';
import { findRollout, type RolloutRow, type RolloutView, rolloutView } from '../../services/rollouts/progress';
import { firstMethodsOf } from '../../services/rollouts/reachability';
import type { RolloutProgress } from '../../workflows/messages';
import type { ApiContext } from '../context';
import { badRequest } from '../http/errors';
import { parse, pathId, queryValue } from '../http/validation';
import { addAuditTargets } from './admin-auth';

const PREVIEW_SLOTS_DEFAULT = 1_000;
const PREVIEW_SLOTS_MAX = 10_000;

function rolloutJson(view: RolloutView) {
  const { row } = view;
  const progress =
    view.source === 'workflow'
      ? {
          started: view.workflow.started,
          remaining: view.workflow.remaining,
          nextStartAt: view.workflow.nextStartAt,
          source: 'workflow',
          finished: view.workflow.finished,
          outstanding: view.workflow.outstanding,
          finalCounts: view.workflow.counts,
          startsByDay: view.workflow.startsByDay,
          cancelling: view.workflow.cancelling,
          pausedReason: row.state === 'paused' ? (view.workflow.pausedReason ?? row.paused_reason ?? 'admin') : null,
          // staged groups (issue 14): the workflow's view while it answers
          groups: view.groups,
          waitingFor: view.waitingFor,
        }
      : {
          started: view.stored.started,
          remaining: view.stored.remaining,
          nextStartAt: isoOrNull(view.stored.nextStart),
          source: 'database',
          finished: view.stored.finished,
          outstanding: view.stored.outstanding,
          pausedReason: row.state === 'paused' ? (view.stored.pausedReason ?? 'admin') : null,
          groups: view.stored.groups,
          waitingFor: view.stored.waitingFor,
        };
  return {
    id: row.id,
    state: row.state,
    counts: view.source === 'workflow' ? view.counts : view.stored.counts,
    total: row.total,
    ...progress,
    softwareId: row.software_id,
    schedule: row.schedule,
    options: row.options,
    notify: row.notify,
    workflowId: row.workflow_id,
    createdAt: isoOrNull(row.created_at),
    completedAt: isoOrNull(row.completed_at),
  };
}

function progressJson(row: RolloutRow, p: RolloutProgress) {
  return {
    id: row.id,
    state: p.state,
    counts: p.counts,
    total: p.total,
    started: p.started,
    finished: p.finished,
    outstanding: p.outstanding,
    remaining: p.remaining,
    nextStartAt: p.nextStartAt,
    startsByDay: p.startsByDay,
    cancelling: p.cancelling,
    schedule: p.schedule,
    pausedReason: p.pausedReason ?? (p.state === 'paused' ? 'admin' : null),
    ...(p.groups ? { groups: p.groups } : {}),
    waitingFor: p.waitingFor ?? null,
  };
}

export function rolloutRoutes({ db, temporal, config }: ApiContext): Router {
  const deps: RolloutDeps = { db, temporal, taskQueue: config.taskQueue, timeouts: config.timeouts };
  const rolloutOf = (rawId: unknown) => findRollout(db, pathId(rawId, 'rollout'));
  const r = Router();

  r.post('/rollouts/preview', async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const rawLimit = queryValue(query, 'limit');
    let limit = PREVIEW_SLOTS_DEFAULT;
    if (rawLimit !== undefined) {
      if (!/^\d+$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > PREVIEW_SLOTS_MAX) {
        throw badRequest(`limit: must be an integer from 1 to ${PREVIEW_SLOTS_MAX}`, 'limit');
      }
      limit = Number(rawLimit);
    }
    const body = parse(RolloutRequestSchema, req.body ?? {});
    const { prepared: p, plan, deviceIds } = await previewRollout(db, body, limit, Date.now());
    const groupDefs = p.staged?.groups ?? [{ name: 'all', from: 0, size: p.total }];
    const groupNames = groupDefs.map((g) => g.name);
    const methods = await firstMethodsOf(db, p.reach.methodByPlatform, deviceIds); // each device's first method
    res.json({
      total: p.total,
      software: p.software,
      schedule: p.schedule,
      options: { useDm: p.body.options.useDm, push: p.push, maxPushAttempts: p.body.options.maxPushAttempts },
      slots: deviceIds.map((deviceId, i) => {
        const s = plan.slots[i]!;
        return {
          deviceId,
          at: isoOrNull(s.at),
          date: s.date,
          group: groupNames[groupOf(groupDefs, i)] ?? 'all',
          method: methods.get(deviceId) ?? p.push,
        };
      }),
      groups: groupDefs.map((g, index) => ({
        index,
        name: g.name,
        total: g.size,
        firstStartAt: isoOrNull(plan.slots[g.from]?.at),
      })),
      ...(p.staged
        ? {
            assumption:
              'The planned times assume each group reaches its success threshold on time (and, with manual approval, is approved): a group that waits moves every later start.',
          }
        : {}),
      ...(p.reach.skipped ? { skipped: p.reach.skipped } : {}),
      slotsTruncated: limit < p.total,
      days: plan.days,
      firstStartAt: isoOrNull(plan.slots[0]?.at),
      lastStartAt: isoOrNull(plan.slots[plan.slots.length - 1]?.at),
    });
  });

  r.post('/rollouts', async (req, res) => {
    const body = parse(RolloutRequestSchema, req.body ?? {});
    addAuditTargets(req, body.softwareId);
    const created = await createRollout(deps, body);
    addAuditTargets(req, created.id);
    res.status(201).json(created);
  });

  r.get('/rollouts/:id', async (req, res) => {
    res.json(rolloutJson(await rolloutView(db, temporal, pathId(req.params.id, 'rollout'))));
  });

  r.post('/rollouts/:id/pause', async (req, res) => {
    const row = await rolloutOf(req.params.id);
    res.json(progressJson(row, await pauseRollout(temporal, row)));
  });

  r.post('/rollouts/:id/resume', async (req, res) => {
    const row = await rolloutOf(req.params.id);
    res.json(progressJson(row, await resumeRollout(temporal, row)));
  });

  r.post('/rollouts/:id/cancel', async (req, res) => {
    const row = await rolloutOf(req.params.id);
    const body = parse(CancelRequestSchema, req.body ?? {});
    res.json(progressJson(row, await cancelRollout(temporal, row, body.reason)));
  });

  r.post('/rollouts/:id/groups/:index/approve', async (req, res) => {
    const row = await rolloutOf(req.params.id);
    const raw = String(req.params.index);
    if (!/^\d{1,6}$/.test(raw)) throw badRequest('index: must be a group index (0, 1, …)', 'index');
    res.json(progressJson(row, await approveRolloutGroup(db, temporal, row, Number(raw))));
  });

  r.patch('/rollouts/:id/schedule', async (req, res) => {
    const row = await rolloutOf(req.params.id);
    // the body is the schedule: errors name `schedule.<field>` like those of POST /rollouts
    const { schedule: change } = parse(z.object({ schedule: ScheduleChangeSchema }), { schedule: req.body ?? {} });
    res.json(progressJson(row, await changeRolloutSchedule(db, temporal, row, change)));
  });

  return r;
}
