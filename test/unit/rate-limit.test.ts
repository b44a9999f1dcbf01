/**
 * The device endpoints' token buckets (api/rate-limit.ts) and DEVICE_RATE_LIMIT parsing, on a
 * controlled clock. Edge cases: burst = limit; refill is continuous (a fraction of a token does not
 * pass); Retry-After is the time to one whole token; a refused take consumes nothing; full buckets
 * are forgotten by the sweep; the key count is bounded (least recently used evicted); `off`.
 */
import { describe, expect, it } from 'vitest';
import { TokenBuckets } from '../../api/http/rate-limit';
import { loadConfig, parseRateLimit } from '../../infra/config';

function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('TokenBuckets', () => {
  it('allows a burst of `limit`, then refuses with the time to the next token', () => {
    const c = clock();
    const b = new TokenBuckets({ limit: 3, windowMs: 60_000, now: c.now });
    expect(b.take('a')).toEqual({ ok: true, remaining: 2 });
    expect(b.take('a')).toEqual({ ok: true, remaining: 1 });
    expect(b.take('a')).toEqual({ ok: true, remaining: 0 });
    // one token per 20 s
    expect(b.take('a')).toEqual({ ok: false, retryAfterMs: 20_000 });
    c.advance(5_000);
    expect(b.take('a')).toEqual({ ok: false, retryAfterMs: 15_000 });
    c.advance(14_999);
    expect(b.take('a')).toEqual({ ok: false, retryAfterMs: 1 });
    c.advance(1);
    expect(b.take('a')).toEqual({ ok: true, remaining: 0 });
  });

  it('keys are independent', () => {
    const c = clock();
    const b = new TokenBuckets({ limit: 1, windowMs: 1_000, now: c.now });
    expect(b.take('a').ok).toBe(true);
    expect(b.take('a').ok).toBe(false);
    expect(b.take('b').ok).toBe(true);
  });

  it('refills no further than the capacity', () => {
    const c = clock();
    const b = new TokenBuckets({ limit: 2, windowMs: 1_000, now: c.now });
    b.take('a');
    c.advance(3_600_000);
    expect(b.take('a')).toEqual({ ok: true, remaining: 1 });
    expect(b.take('a')).toEqual({ ok: true, remaining: 0 });
    expect(b.take('a').ok).toBe(false);
  });

  it('peek consumes nothing', () => {
    const c = clock();
    const b = new TokenBuckets({ limit: 1, windowMs: 1_000, now: c.now });
    expect(b.peek('a')).toEqual({ ok: true, remaining: 1 });
    expect(b.peek('a')).toEqual({ ok: true, remaining: 1 });
    expect(b.take('a').ok).toBe(true);
    expect(b.peek('a')).toEqual({ ok: false, retryAfterMs: 1_000 });
  });

  it('forgets refilled buckets after a window and bounds the number of keys', () => {
    const c = clock();
    const b = new TokenBuckets({ limit: 2, windowMs: 1_000, maxKeys: 3, now: c.now });
    for (const k of ['a', 'b', 'c', 'd']) b.take(k);
    expect(b.size).toBe(3); // 'a' (least recently used) evicted
    b.take('b'); // b is now empty
    c.advance(1_000); // everyone refilled; the next take sweeps them away
    b.take('e');
    expect(b.size).toBe(1);
  });

  it('refuses nonsense settings', () => {
    expect(() => new TokenBuckets({ limit: 0, windowMs: 1_000 })).toThrow(/limit/);
    expect(() => new TokenBuckets({ limit: 1, windowMs: 0 })).toThrow(/window/);
  });
});

describe('DEVICE_RATE_LIMIT', () => {
  it('parses rates per second, minute, hour; a bare number is per minute', () => {
    expect(parseRateLimit('120/min')).toEqual({ limit: 120, windowMs: 60_000 });
    expect(parseRateLimit('120')).toEqual({ limit: 120, windowMs: 60_000 });
    expect(parseRateLimit('10/s')).toEqual({ limit: 10, windowMs: 1_000 });
    expect(parseRateLimit(' 5000 / hour ')).toEqual({ limit: 5000, windowMs: 3_600_000 });
    expect(parseRateLimit('3/h')).toEqual({ limit: 3, windowMs: 3_600_000 });
  });

  it('off / 0 disable it; garbage is refused naming the variable', () => {
    expect(parseRateLimit('off')).toBeUndefined();
    expect(parseRateLimit('0')).toBeUndefined();
    expect(() => parseRateLimit('fast', 'DEVICE_RATE_LIMIT')).toThrow(/DEVICE_RATE_LIMIT: "fast"/);
    expect(() => parseRateLimit('10/day', 'DEVICE_RATE_LIMIT')).toThrow(/DEVICE_RATE_LIMIT/);
    expect(() => parseRateLimit('-1')).toThrow();
  });

  it('defaults to 120 per minute', () => {
    expect(loadConfig({}).deviceRateLimit).toEqual({ limit: 120, windowMs: 60_000 });
    expect(loadConfig({ DEVICE_RATE_LIMIT: 'off' }).deviceRateLimit).toBeUndefined();
  });
});
