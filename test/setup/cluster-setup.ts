/**
 * Global setup of the cluster suite's `cluster` project (vitest.cluster.config.mts): the HTTP
 * end-to-end files of the integration suite, run against a real multi-process Temporal cluster
 * (devstack/cluster.ts: PostgreSQL with Temporal's schemas, frontend, history, matching and worker
 * as separate processes) instead of the dev server, each stack scaled out to two workers and two API
 * instances (`scaleOut`). It provides what test/setup/integration-setup.ts provides: the frontend's
 * address, the cluster's PostgreSQL (a migrated template database that each file clones) and the
 * workflow bundle.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startTemporalCluster } from '../../devstack/cluster';
import { buildWorkflowBundle } from '../../worker/worker';
import { createTemplateDatabase } from './integration-setup';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Workers and API instances per test stack (test/helpers/stack.ts); 1 when not provided. */
    scaleOut: number;
    /** Frontend and history pids of the cluster, for the tests that check what runs. */
    clusterPids: Record<string, number>;
  }
}

export default async function setup(project: TestProject) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dr-cluster-'));
  await fs.chmod(dir, 0o755);
  const [cluster, bundle] = await Promise.all([
    startTemporalCluster({ dir: path.join(dir, 'engine'), pgFsync: false }),
    buildWorkflowBundle(),
  ]);
  try {
    const adminUrl = cluster.pgUrl('postgres');
    const template = await createTemplateDatabase(adminUrl);
    const bundlePath = path.join(dir, 'workflow-bundle.js');
    await fs.writeFile(bundlePath, bundle.code);

    project.provide('temporalAddress', cluster.address);
    project.provide('postgresAdminUrl', adminUrl);
    project.provide('templateDatabase', template);
    project.provide('workflowBundlePath', bundlePath);
    project.provide('integrationTmpDir', dir);
    project.provide('scaleOut', 2);
    project.provide('clusterPids', Object.fromEntries(Object.entries(cluster.services).map(([name, p]) => [name, p.pid() ?? 0])));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return async () => {
    await cluster.stop();
    await fs.rm(dir, { recursive: true, force: true });
  };
}
