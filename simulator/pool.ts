/**
 * Bounded concurrency for the simulator: at most `concurrency` tasks run at once, the others wait in
 * FIFO order (a p-limit in a few lines). Used for every HTTP request a virtual device makes, so a
 * fleet of 100,000 devices never opens 100,000 sockets.
 */
export interface Limiter {
  <T>(task: () => Promise<T>): Promise<T>;
  readonly active: number;
  readonly waiting: number;
  /** Resolves when nothing runs and nothing waits. */
  idle(): Promise<void>;
}

export function createLimiter(concurrency: number): Limiter {
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new Error(`concurrency must be a positive integer, got ${concurrency}`);
  const queue: (() => void)[] = [];
  let active = 0;
  let idleWaiters: (() => void)[] = [];

  const next = () => {
    if (active < concurrency) {
      const start = queue.shift();
      if (start) {
        active++;
        start();
        return;
      }
    }
    if (active === 0 && queue.length === 0 && idleWaiters.length > 0) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const resolve of w) resolve();
    }
  };

  const limit = (<T>(task: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        let p: Promise<T>;
        try {
          p = task();
        } catch (err) {
          p = Promise.reject(err);
        }
        p.then(resolve, reject).finally(() => {
          active--;
          next();
        });
      });
      next();
    })) as Limiter;

  Object.defineProperties(limit, {
    active: { get: () => active },
    waiting: { get: () => queue.length },
  });
  limit.idle = () =>
    active === 0 && queue.length === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));
  return limit;
}
