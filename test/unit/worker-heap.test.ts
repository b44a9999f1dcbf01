// WORKER_HEAP_GROWING_PERCENT: the worker's V8 heap growth factor (worker/heap.ts).
import { describe, expect, it } from 'vitest';
import { limitHeapGrowth } from '../../worker/heap';

describe('limitHeapGrowth', () => {
  it('defaults to 30 %; 0 leaves V8 its own heuristics', () => {
    expect(limitHeapGrowth({})).toBe(30);
    expect(limitHeapGrowth({ WORKER_HEAP_GROWING_PERCENT: '' })).toBe(30);
    expect(limitHeapGrowth({ WORKER_HEAP_GROWING_PERCENT: '0' })).toBe(0);
    expect(limitHeapGrowth({ WORKER_HEAP_GROWING_PERCENT: '100' })).toBe(100);
  });

  it('refuses what is not a whole percentage from 0 to 300, naming the variable', () => {
    for (const v of ['-1', '301', '12.5', 'lots', '1e2x'])
      expect(() => limitHeapGrowth({ WORKER_HEAP_GROWING_PERCENT: v })).toThrow(/^WORKER_HEAP_GROWING_PERCENT: /);
  });
});
