/**
 * How far the worker's V8 heaps (main thread and workflow thread) may grow past their live size
 * before a full GC: WORKER_HEAP_GROWING_PERCENT (default 30; 0 leaves it to V8). V8's own factor
 * goes up to 4× on a machine with gigabytes of memory, and the workflow thread allocates an Error
 * and a stack string per workflow promise (the SDK's stack-trace query): its heap grew to several
 * times its ≈ 55 MB live set. A fixed factor keeps the peak RSS near the live size at the same CPU
 * (docs/performance.md, issue 17). Set before the workflow thread starts: V8 flags are per process.
 */
import v8 from 'node:v8';

export function limitHeapGrowth(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.WORKER_HEAP_GROWING_PERCENT;
  const percent = raw === undefined || raw === '' ? 30 : Number(raw);
  if (!Number.isInteger(percent) || percent < 0 || percent > 300)
    throw new Error(`WORKER_HEAP_GROWING_PERCENT: "${raw}" is not a whole percentage from 0 to 300`);
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}
