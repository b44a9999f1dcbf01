import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode, type Logger, type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { ActivityDeps } from '../activities';
import { createActivities } from '../activities';

/** A directory: the bundler resolves its index (.ts under tsx/vitest, .js when compiled). */
const WORKFLOWS_PATH = path.resolve(__dirname, '..', 'workflows');

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A pre-built bundle (tests build it once); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  tuning?: Pick<
    WorkerOptions,
    'maxConcurrentActivityTaskExecutions' | 'maxConcurrentWorkflowTaskExecutions' | 'maxCachedWorkflows'
  >;
}

export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    activities: createActivities(opts.deps),
    workflowBundle:
      opts.workflowBundle ??
      (existsSync(PREBUILT_BUNDLE) ? { codePath: PREBUILT_BUNDLE } : { code: await bundleInChildProcess() }),
    ...opts.tuning,
  });
}

export async function buildWorkflowBundle(opts: { quiet?: boolean } = {}): Promise<{ code: string }> {
  const quiet = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, log() {} } as unknown as Logger;
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: opts.quiet ? quiet : undefined });
}

const BUNDLE_TO = '--bundle-workflows-to';

/** The workflow bundle `npm run build` puts beside dist/worker.js; run from source there is none. */
const PREBUILT_BUNDLE = path.join(__dirname, 'workflow-bundle.js');

/**
 * The workflow bundle, made by a short-lived child process (this file, `--bundle-workflows-to <file>`):
 * webpack's ≈ 150 MB would otherwise stay in the worker's RSS for its whole life (V8 keeps the pages
 * it grew to). Same node flags as this process (tsx's loader when run from TypeScript).
 */
async function bundleInChildProcess(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dr-bundle-'));
  const file = path.join(dir, 'workflow-bundle.js');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [...process.execArgv, __filename, BUNDLE_TO, file], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`bundling the workflows failed (exit ${code ?? signal})`)),
      );
    });
    return await readFile(file, 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (require.main === module && process.argv[2] === BUNDLE_TO && process.argv[3]) {
  const out = process.argv[3];
  buildWorkflowBundle()
    .then((b) => writeFile(out, b.code))
    .then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
        process.exit(1);
      },
    );
}
