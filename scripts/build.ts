/**
 * `npm run build`: the deployable worker and API as plain JavaScript in dist/ (what `npm run worker`,
 * `npm run api` and the Docker image run): one CommonJS file each (our code bundled, packages left to
 * node_modules) and the workflow bundle made once here instead of at every worker start. Running them
 * with plain `node` spares each process the TypeScript loader (its loader thread and esbuild service:
 * ≈ 57 MB of RSS and 6 threads) and Node's source maps (with them every Error's stack is source-mapped,
 * and the Temporal SDK makes one per workflow promise): docs/performance.md. The .map files are for
 * reading a stack trace by hand, not loaded.
 */
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { buildWorkflowBundle } from '../worker/worker';

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'dist');

async function main() {
  const t0 = Date.now();
  // built aside, then renamed file by file: `npm run worker` × N started at once never read a half-written file
  const tmp = path.join(OUT, `.build-${process.pid}`);
  await mkdir(tmp, { recursive: true });
  try {
    await buildInto(tmp);
    for (const f of await readdir(tmp)) await rename(path.join(tmp, f), path.join(OUT, f));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  process.stdout.write(
    `built dist/worker.js, dist/api.js, dist/migrate.js and dist/workflow-bundle.js in ${Date.now() - t0} ms\n`,
  );
}

/** Node entry points as one CommonJS file each: our code bundled, packages left to node_modules. */
export async function compileEntries(entryPoints: Record<string, string>, outdir: string): Promise<void> {
  await build({
    absWorkingDir: ROOT,
    entryPoints,
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  });
}

async function buildInto(dir: string) {
  await compileEntries({ worker: 'worker/main.ts', api: 'api/main.ts', migrate: 'scripts/migrate.ts' }, dir);
  // dist/ sits beside workflows/ and console/: the paths the code resolves from __dirname stay valid
  const bundle = await buildWorkflowBundle({ quiet: true });
  await writeFile(path.join(dir, 'workflow-bundle.js'), bundle.code);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`build failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
