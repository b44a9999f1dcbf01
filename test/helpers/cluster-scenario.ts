/**
 * A fault scenario (test/helpers/fault-scenario.ts: a paced rollout answered by a simulated fleet, a
 * fault while it runs, then the checks that nothing was lost, nothing done twice and no quota
 * exceeded) on the production shape: its own multi-process Temporal cluster on PostgreSQL
 * (devstack/cluster.ts) and DeviceRollout scaled out to two worker and two API processes. The fleet
 * spreads its requests over both APIs; the fault gets the cluster (each Temporal service a process
 * that can be killed and started again) and the app instances.
 */
import path from 'node:path';
import { type ScaledApp, startScaledApp, startTemporalCluster, type TemporalCluster } from '../../devstack/cluster';
import { runScenario, type ScenarioBase, type ScenarioOptionsOf, type ScenarioResult } from './fault-scenario';

export interface ClusterParts {
  cluster: TemporalCluster;
  app: ScaledApp;
}

export function runClusterScenario(
  o: ScenarioOptionsOf<ScenarioBase & ClusterParts> & { workers?: number },
): Promise<ScenarioResult> {
  const apis = o.apis ?? 2;
  return runScenario<ClusterParts>({ ...o, apis }, async (r) => {
    const cluster = await startTemporalCluster({ dir: path.join(r.dir, 'engine'), pgFsync: false });
    r.cleanups.push(() => cluster.stop());
    const app = await startScaledApp({
      cluster,
      dataDir: path.join(r.dir, 'data'),
      logDir: path.join(r.dir, 'logs'),
      workers: o.workers ?? 2,
      apis,
      apiPorts: r.apiPorts,
      env: {
        ADMIN_API_KEY: r.adminKey,
        TEMPORAL_TASK_QUEUE: r.taskQueue,
        PUBLIC_URL: `http://127.0.0.1:${r.apiPorts[0]}`,
        DM_SECRET_KEY: 'cluster-tests-dm-secret',
        LOG_LEVEL: 'warn',
        TEMPORAL_LOG_LEVEL: 'ERROR',
        ...r.extra,
      },
    });
    r.cleanups.push(() => app.stop());
    return {
      temporalAddress: cluster.address,
      databaseUrl: cluster.pgUrl('device_rollout'),
      workerStarts: () => app.workers.reduce((n, w) => n + w.process.starts(), 0),
      parts: { cluster, app },
    };
  });
}
