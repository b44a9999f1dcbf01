/**
 * knip (`npm run lint:dead`): unused files, exports and dependencies. One rule relaxed: a type or
 * interface exported beside the function whose signature uses it may stay exported (it is part of
 * that function's contract) even when no other file names it.
 * package.json's scripts name the other entry points (scripts/*.ts, simulator/main.ts, bench/run.ts),
 * and knip's vitest plugin reads vitest.config.mts (test files, setup files, the summary reporter).
 * Listed here are the ones only a path string reaches. Migrations are no entry points: migrations/
 * index.ts imports each one. `!` marks what is deployed: `npx knip --production` shows the exports
 * only tests and dev tools use.
 */
import type { KnipConfig } from 'knip';

const config: KnipConfig = {
  ignoreExportsUsedInFile: { interface: true, type: true },
  entry: [
    '{api,worker}/main.ts!',
    // the worker bundles the workflows by path (worker/worker.ts WORKFLOWS_PATH)
    'workflows/index.ts!',
    'scripts/*.ts',
    // the bench spawns these workers as child processes; the baseline worker bundles its workflows by path
    'bench/baseline-worker.ts',
    'bench/tuned-worker.ts',
    'bench/baseline-workflows.ts',
    // run by hand: `npx tsx bench/csv.ts` (the CSV export's memory, docs/performance.md)
    'bench/csv.ts',
    // workflowsPath of test/workflow/rollout.harness.ts
    'test/workflow/rollout.workflows.ts',
    // the admin console: api/console.ts bundles it by path (esbuild)
    'console/main.tsx!',
    // run by hand after `npm install` (its header says when)
    'tools/*.mjs',
  ],
  project: [
    '{api,app,worker,workflows,activities,services,domain,infra,omadm,migrations}/**/*.ts!',
    'console/**/*.{ts,tsx}!',
    '{bench,devstack,scripts,simulator,test,tools}/**/*.{ts,mts,mjs}',
    '*.{ts,mts,cjs}',
  ],
};

export default config;
