/**
 * Global setup of the workflow suite: make sure the time-skipping test server is available (resolved
 * from Maven Central and cached outside the repo on first use) and bundle the workflows once.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureTestServer } from '../../devstack/temporal-servers';
import { buildWorkflowBundle } from '../../worker/worker';

declare module 'vitest' {
  export interface ProvidedContext {
    testServerPath: string;
    workflowBundlePath: string;
  }
}

export default async function setup(project: TestProject) {
  const exe = await ensureTestServer();
  if (exe.type !== 'existing-path') {
    throw new Error(
      'the time-skipping test server is not available: install Java 17+ and Maven, or set TEMPORAL_TEST_SERVER_PATH',
    );
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dr-wf-'));
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  const { code } = await buildWorkflowBundle();
  await fs.writeFile(bundlePath, code);
  project.provide('testServerPath', exe.path);
  project.provide('workflowBundlePath', bundlePath);
  return async () => {
    await fs.rm(dir, { recursive: true, force: true });
  };
}
