// bench/stalls.ts pgDuring: which of PostgreSQL's 250-ms samples belong to a stall of the device requests.
import { describe, expect, it } from 'vitest';
import { type PgSample, pgDuring, pgDuringText } from '../../bench/stalls';

const sample = (tMs: number, walSyncMs: number, waits: Record<string, number> = {}): PgSample => ({
  tMs,
  walSyncs: walSyncMs > 0 ? 1 : 0,
  walSyncMs,
  waits,
});

describe('pgDuring', () => {
  const samples = [
    sample(1_000, 2, { running: 1 }),
    sample(1_250, 0, { 'IO:WALSync': 3 }),
    sample(1_500, 0, { 'IO:WALSync': 4, running: 1 }),
    sample(1_750, 0, { 'Lock:transactionid': 1 }),
    sample(2_500, 610), // a backend's WAL statistics arrive up to a second late
    sample(3_100, 50), // later than that: another stall's
  ];

  it('sums the waits of the samples inside the stall and the WAL flushes up to a second after it', () => {
    const pg = pgDuring({ startMs: 1_100, endMs: 1_800 }, samples);
    expect(pg).toEqual({
      samples: 3,
      waits: { 'IO:WALSync': 7, running: 1, 'Lock:transactionid': 1 },
      walSyncMs: 610,
      walSyncs: 1,
    });
    expect(pgDuringText(pg)).toBe('3 samples, waits IO:WALSync 7, Lock:transactionid 1, running 1; WAL flushes 1 (610 ms)');
  });

  it('a stall between two samples has none of their waits, and no flush from before it', () => {
    expect(pgDuring({ startMs: 1_010, endMs: 1_200 }, samples)).toEqual({ samples: 0, waits: {}, walSyncMs: 0, walSyncs: 0 });
  });
});
