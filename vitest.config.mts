import { defineConfig } from 'vitest/config';

// Three suites, one command (`npm test`):
//  - unit:        pure domain rules and codecs, no servers
//  - workflow:    workflows on Temporal's time-skipping test server (Java, from Maven Central)
//  - integration: the real stack: Temporal dev server (CLI), PostgreSQL, HTTP API, SMTP …
// Each server-backed project has its own global setup (test/setup/): the workflow suite ensures the
// time-skipping test server; the integration suite ensures the Temporal CLI and starts one throwaway
// PostgreSQL cluster and one dev server that its files share (each file uses its own task queue).
export default defineConfig({
  test: {
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: 'workflow',
          include: ['test/workflow/**/*.test.ts'],
          globalSetup: ['test/setup/workflow-setup.ts'],
          setupFiles: ['test/setup/temporal-runtime.ts'],
          // each file starts its own time-skipping server; two at a time suits a 2-core machine
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/setup/integration-setup.ts'],
          setupFiles: ['test/setup/temporal-runtime.ts'],
          maxWorkers: 2,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          // fault injection (issue 6): each scenario runs its own PostgreSQL, dev server, worker and API
          // as child processes and kills/stops them mid-rollout; one at a time (`npm run test:faults`)
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          globalSetup: ['test/setup/faults-setup.ts'],
          setupFiles: ['test/setup/temporal-runtime.ts'],
          maxWorkers: 1,
          testTimeout: 600_000,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
