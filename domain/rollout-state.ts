/** The rollout's lifecycle (SPEC `GET /rollouts/:id`): the states of the rollout workflow and `rollouts.state`. */

export const ROLLOUT_STATES = ['scheduled', 'running', 'paused', 'completed', 'cancelled'] as const;

export type RolloutState = (typeof ROLLOUT_STATES)[number];

/** Rollouts still starting installs or able to (the rollout gauges of /metrics). */
export const ACTIVE_ROLLOUT_STATES: readonly RolloutState[] = ['scheduled', 'running', 'paused'];

/** No install starts any more: completed, or cancelled (whose running installs may still be cancelling). */
export const isFinalRolloutState = (state: string): boolean => state === 'completed' || state === 'cancelled';
