import type { ActivityDeps } from './deps';
import { createDiagnosticsActivities } from './diagnostics';
import { createInstallActivities } from './install';
import { createPurgeActivities } from './purge';

export type { ActivityDeps } from './deps';

/** The activities factory: the worker registers its result; workflows type their proxies by it. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDiagnosticsActivities(deps),
    ...createPurgeActivities(deps),
    ...createInstallActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
