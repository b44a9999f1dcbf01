/**
 * Operations of the admin rollout and installation routes (api/admin/rollouts.ts,
 * api/admin/installations.ts); their bodies are the zod schemas of domain/rollout-request.ts.
 */
import { ALL_STATUSES } from '../../domain/status';
import {
  adminErrors as admin,
  body,
  cursorParam,
  error,
  idParam,
  type Json,
  json,
  jsonBodyErrors,
  limitParam,
  pathParam,
  queryParam,
} from './common';

const temporalDown = { '503': error('Temporal unavailable: nothing was changed; retry later') };

const control = (op: 'pause' | 'resume' | 'cancel', summary: string): Json => ({
  post: {
    tags: ['rollouts'],
    operationId: `${op}Rollout`,
    summary,
    description: 'A Temporal Update of the rollout workflow: a request the workflow rejects is answered 409 with its reason.',
    parameters: [idParam('rollout')],
    ...(op === 'cancel' ? { requestBody: body('CancelRequest', false) } : {}),
    responses: {
      '200': json('RolloutProgress', 'Accepted'),
      ...(op === 'cancel' ? { '400': error('Invalid body') } : {}),
      '404': error('Unknown rollout'),
      '409': error('Not possible in the rollout state (the reason says why), or the rollout is over'),
      ...(op === 'cancel' ? jsonBodyErrors : {}),
      ...temporalDown,
      ...admin,
    },
  },
});

export function rolloutPaths(): Json {
  return {
    '/api/v1/rollouts': {
      post: {
        tags: ['rollouts'],
        operationId: 'createRollout',
        summary: 'Start a rollout',
        description:
          'Validates every field (R1 Use DM applicability, R7 file per platform), writes the rollout and one installation job per device (bulk), starts the rollout workflow. With `groups` the devices are split in planned order into staged groups: a group starts only once the group before it reached `safety.successThreshold` of succeeded jobs (and, with `safety.approval: "manual"`, was approved: POST /rollouts/{id}/groups/{index}/approve); while a group waits nothing starts and no quota is used. With `groups` or `safety`, once `safety.minFinished` jobs of a group are final and its failures (Installation failed, Unknown status) reach `safety.errorThreshold` of them, the rollout pauses itself (`pausedReason: "error-threshold"`), sends the alert mail and starts nothing until resumed.',
        requestBody: body('RolloutRequest'),
        responses: {
          '201': json('RolloutCreated', 'Created; the workflow is started'),
          '400': error('Invalid request; `field` names the offending field'),
          '409': error('The selected devices changed while the rollout was created, or its workflow exists already; retry'),
          ...jsonBodyErrors,
          '503': error('Temporal unavailable: nothing was created'),
          ...admin,
        },
      },
    },
    '/api/v1/rollouts/preview': {
      post: {
        tags: ['rollouts'],
        operationId: 'previewRollout',
        summary: 'Preview the planned start of every device (dry run, S9)',
        description:
          'Same body and validation as POST /rollouts; nothing is written or started. `days` is always complete; `slots` lists the first `limit`, each with its group. With groups, the plan assumes each group reaches its success threshold on time (`assumption` says so): a group that waits moves every later start.',
        parameters: [queryParam('limit', { type: 'integer', minimum: 1, maximum: 10000, default: 1000 }, 'Slots listed')],
        requestBody: body('RolloutRequest'),
        responses: {
          '200': json('RolloutPreview', 'The plan'),
          '400': error('Invalid request; `field` names the offending field'),
          ...jsonBodyErrors,
          ...admin,
        },
      },
    },
    '/api/v1/rollouts/{id}': {
      get: {
        tags: ['rollouts'],
        operationId: 'getRollout',
        summary: 'Rollout state, counts per status, next start',
        description:
          '`counts` (every job\'s current status) always come from PostgreSQL. Until the rollout is over (`completedAt` set), the rest — state, started/remaining, the next start, `groups` — comes from its workflow\'s `progress` query (`source: "workflow"`, no pass over the rollout\'s jobs; a cancelled rollout whose running installs are still being cancelled has `cancelling: true`); once over, or when the workflow does not answer within 1 s, from PostgreSQL (`source: "database"`). `completed` is only reported once `completedAt` is written. `pausedReason` says why a paused rollout is paused (`admin`, `error-threshold`); `groups` lists each group\'s counts and state; `waitingFor` says what the next group waits for (then `nextStartAt` is null).',
        parameters: [idParam('rollout')],
        responses: { '200': json('RolloutStatus', 'The rollout'), '404': error('Unknown rollout'), ...admin },
      },
    },
    '/api/v1/rollouts/{id}/pause': control('pause', 'Pause: no further starts until resumed'),
    '/api/v1/rollouts/{id}/resume': control('resume', "Resume: replanned from now, keeping today's quota"),
    '/api/v1/rollouts/{id}/cancel': control(
      'cancel',
      'Cancel: no further starts, not-started jobs Cancelled, running installs cancelled',
    ),
    '/api/v1/rollouts/{id}/groups/{index}/approve': {
      post: {
        tags: ['rollouts'],
        operationId: 'approveRolloutGroup',
        summary: 'Approve a group of a rollout with manual approval',
        description:
          'A Temporal Update of the rollout workflow: group `index` (≥ 1) starts once the group before it reached the success threshold. Approving ahead of that is allowed.',
        parameters: [idParam('rollout'), pathParam('index', 'group index (0, 1, …)', { type: 'integer', minimum: 0 })],
        responses: {
          '200': json('RolloutProgress', 'Approved'),
          '400': error('`index` is not a group index'),
          '404': error('Unknown rollout, or the rollout has no such group'),
          '409': error('Automatic approval, group 0, a group approved or started already, or the rollout is over'),
          ...temporalDown,
          ...admin,
        },
      },
    },
    '/api/v1/rollouts/{id}/schedule': {
      patch: {
        tags: ['rollouts'],
        operationId: 'changeRolloutSchedule',
        summary: 'Change the schedule (replanned at once; never more starts than the quota on any day)',
        parameters: [idParam('rollout')],
        requestBody: body('ScheduleChange'),
        responses: {
          '200': json('RolloutProgress', 'Accepted'),
          '400': error('Invalid schedule (`field` is `schedule.<field>`); the time zone cannot change'),
          '404': error('Unknown rollout'),
          '409': error('The rollout is over, or the workflow rejected the change'),
          ...jsonBodyErrors,
          ...temporalDown,
          ...admin,
        },
      },
    },
    '/api/v1/rollouts/{id}/installations': {
      get: {
        tags: ['installations'],
        operationId: 'listInstallations',
        summary: 'Installing (non-final) or Installed (final, ended within the retention) jobs of a rollout (V3)',
        parameters: [
          idParam('rollout'),
          queryParam('table', { type: 'string', enum: ['installing', 'installed'], default: 'installing' }),
          queryParam('status', { type: 'string', enum: [...ALL_STATUSES] }),
          queryParam(
            'device',
            { type: 'string', maxLength: 200 },
            'Only the jobs of devices whose external id contains this text (case-insensitive), or of the device with this id',
          ),
          limitParam(50, 500),
          cursorParam,
        ],
        responses: {
          '200': json('InstallationPage', 'A page of jobs in planned order'),
          '400': error('Invalid or unknown query parameter'),
          '404': error('Unknown rollout'),
          ...admin,
        },
      },
    },
    '/api/v1/installations/{id}/log': {
      get: {
        tags: ['installations'],
        operationId: 'getInstallationLog',
        summary: 'A job and its log: every status change, fallback, retry and error (V4)',
        parameters: [idParam('installation')],
        responses: {
          '200': json('InstallationLog', 'The job and its log'),
          '404': error('Unknown installation'),
          ...admin,
        },
      },
    },
  };
}
