import { defineConfig } from 'vitest/config';

// `npm run test:cluster` (issue 17) — not part of `npm test`; `.ci/run` runs it after `npm test`.
// The same code as ever, on a real multi-process Temporal cluster on PostgreSQL (devstack/cluster.ts):
//  - cluster:        the HTTP end-to-end files of the integration suite (install, rollout, push through
//                    Kannel), each stack with two workers and two API instances, plus the cluster's
//                    own checks (search attributes within SQL visibility's limits, the operator queries
//                    of docs/operators.md); one cluster shared by the files (test/setup/cluster-setup.ts)
//  - cluster-faults: rollouts against 2 worker and 2 API processes while one of each is killed
//                    (SIGKILL), the history service is killed and started again, the frontend restarted;
//                    each scenario its own cluster, one at a time
export default defineConfig({
  test: {
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    testTimeout: 240_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'cluster',
          include: [
            'test/integration/install-e2e.test.ts',
            'test/integration/rollout-e2e.test.ts',
            'test/integration/push-rollout-e2e.test.ts',
            'test/cluster/*.test.ts',
          ],
          exclude: ['test/cluster/faults*.test.ts'],
          globalSetup: ['test/setup/cluster-setup.ts'],
          setupFiles: ['test/setup/temporal-runtime.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster-faults',
          include: ['test/cluster/faults*.test.ts'],
          globalSetup: ['test/setup/cluster-faults-setup.ts'],
          setupFiles: ['test/setup/temporal-runtime.ts'],
          maxWorkers: 1,
          testTimeout: 600_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
