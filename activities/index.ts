import type { ActivityDeps } from './deps';
import { createDiagnosticsActivities } from './diagnostics';
import { createInstallActivities } from './install';
import { createNotifyActivities } from './notify';
import { createPurgeActivities } from './purge';
import { createRolloutActivities } from './rollout';

export type { ActivityDeps } from './deps';

/** The activities factory: the worker registers its result; workflows type their proxies by it. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDiagnosticsActivities(deps),
    ...createInstallActivities(deps),
    ...createPurgeActivities(deps),
    ...createRolloutActivities(deps),
    ...createNotifyActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
