/**
 * Per-process memory of idempotency keys: the first call with a key runs, concurrent and later calls
 * with the same key get the same result marked `duplicate: true`. A failed attempt is forgotten, so a
 * retry runs again. Bounded (oldest keys are dropped first). Best effort only: it does not survive a
 * restart and is not shared between workers — the durable guarantee is the workflow's job.
 */
export class KeyedOnce<T extends { duplicate?: boolean }> {
  private readonly entries = new Map<string, Promise<T>>();

  constructor(private readonly capacity: number) {}

  async run(key: string, send: () => Promise<T>): Promise<T> {
    if (!key) throw new Error('idempotencyKey is required');
    const known = this.entries.get(key);
    if (known) return { ...(await known), duplicate: true };
    const attempt = send();
    this.entries.set(key, attempt);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    try {
      return await attempt;
    } catch (err) {
      if (this.entries.get(key) === attempt) this.entries.delete(key);
      throw err;
    }
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }
}
