/** Staged groups and their thresholds (issue 14, domain/groups.ts): the split, the parsing, the two checks. */
import { describe, expect, it } from 'vitest';
import {
  errorReached,
  groupOf,
  parseGroupSize,
  parseThreshold,
  reaches,
  resolveSafety,
  splitGroups,
  successReached,
} from '../../domain/groups';
import { GroupsRequestSchema, SafetyRequestSchema } from '../../domain/groups-request';

describe('thresholds', () => {
  it('parses shares and counts, refuses anything else', () => {
    expect(parseThreshold('90%')).toEqual({ kind: 'share', percent: 90 });
    expect(parseThreshold(' 5 %')).toEqual({ kind: 'share', percent: 5 });
    expect(parseThreshold('12.5%')).toEqual({ kind: 'share', percent: 12.5 });
    expect(parseThreshold(3)).toEqual({ kind: 'count', n: 3 });
    expect(parseThreshold(0)).toEqual({ kind: 'count', n: 0 });
    for (const bad of ['101%', '90', '-5%', 'x%', '%', 2.5, -1, null, undefined, {}, '1e2%']) {
      expect({ bad, t: parseThreshold(bad) }).toEqual({ bad, t: undefined });
    }
  });

  it('a share is reached at exactly its percentage, a count is capped by the whole', () => {
    const ninety = parseThreshold('90%')!;
    expect(reaches(ninety, 9, 10)).toBe(true);
    expect(reaches(ninety, 8, 10)).toBe(false);
    expect(reaches(ninety, 0, 0)).toBe(false);
    expect(reaches(parseThreshold('0%')!, 0, 0)).toBe(true);
    expect(reaches(parseThreshold(5)!, 3, 3)).toBe(true); // a group of 3 cannot have 5 successes
    expect(reaches(parseThreshold(5)!, 4, 10)).toBe(false);
  });

  it('group sizes: a whole count ≥ 1 or a share above 0 %', () => {
    expect(parseGroupSize(10)).toEqual({ kind: 'count', n: 10 });
    expect(parseGroupSize('20%')).toEqual({ kind: 'share', percent: 20 });
    for (const bad of [0, -1, 1.5, '0%', '120%', 'ten']) expect({ bad, s: parseGroupSize(bad) }).toEqual({ bad, s: undefined });
  });
});

describe('splitGroups', () => {
  it('splits in planned order: counts, shares rounded up, the last takes the rest', () => {
    expect(splitGroups(100, [{ name: 'canary', devices: 10 }, { name: 'early', devices: '20%' }, { name: 'rest' }])).toEqual([
      { name: 'canary', from: 0, size: 10 },
      { name: 'early', from: 10, size: 20 },
      { name: 'rest', from: 30, size: 70 },
    ]);
    expect(splitGroups(50, [{ name: 'c', devices: '1%' }, { name: 'r' }])).toEqual([
      { name: 'c', from: 0, size: 1 },
      { name: 'r', from: 1, size: 49 },
    ]);
    // capped by what is left
    expect(
      splitGroups(10, [
        { name: 'a', devices: '60%' },
        { name: 'b', devices: '60%' },
      ]),
    ).toEqual([
      { name: 'a', from: 0, size: 6 },
      { name: 'b', from: 6, size: 4 },
    ]);
  });

  it('without groups: one group of every device (the behaviour before groups)', () => {
    expect(splitGroups(7, undefined)).toEqual([{ name: 'all', from: 0, size: 7 }]);
  });

  it('refuses a group left without devices, devices left over, and a rest group that is not last, naming the field', () => {
    expect(splitGroups(5, [{ name: 'canary', devices: 10 }, { name: 'rest' }])).toEqual({
      field: 'groups.1.devices',
      message: expect.stringMatching(/no device left for group "rest"/),
    });
    expect(
      splitGroups(10, [
        { name: 'a', devices: 3 },
        { name: 'b', devices: 3 },
      ]),
    ).toEqual({
      field: 'groups',
      message: expect.stringMatching(/take 6 of the 10/),
    });
    expect(splitGroups(10, [{ name: 'a' }, { name: 'b', devices: 3 }])).toMatchObject({ field: 'groups.0.devices' });
  });

  it('groupOf maps a seq to its group', () => {
    const g = splitGroups(10, [{ name: 'a', devices: 2 }, { name: 'b' }]) as { name: string; from: number; size: number }[];
    expect([0, 1, 2, 9, 10].map((s) => groupOf(g, s))).toEqual([0, 0, 1, 1, -1]);
  });
});

describe('the gates', () => {
  it('defaults: 90% success, 5% errors, 10 final jobs, automatic approval', () => {
    expect(resolveSafety(undefined)).toEqual({
      success: { kind: 'share', percent: 90 },
      error: { kind: 'share', percent: 5 },
      minFinished: 10,
      approval: 'auto',
    });
  });

  it('success threshold: the share of the whole group that succeeded', () => {
    const s = resolveSafety({ successThreshold: '80%' });
    expect(successReached(s, { name: 'c', from: 0, size: 5 }, 4)).toBe(true);
    expect(successReached(s, { name: 'c', from: 0, size: 5 }, 3)).toBe(false);
  });

  it('error threshold: only after minFinished final jobs (or all of a smaller group), a share of the final ones', () => {
    const s = resolveSafety({ errorThreshold: '20%', minFinished: 5 });
    expect(errorReached(s, { final: 4, failed: 4, open: 6 })).toBe(false); // 4 < minFinished
    expect(errorReached(s, { final: 5, failed: 1, open: 5 })).toBe(true); // 1 of 5 = 20 %
    expect(errorReached(s, { final: 6, failed: 1, open: 4 })).toBe(false);
    // a group of 3: minFinished becomes 3
    expect(errorReached(s, { final: 3, failed: 1, open: 0 })).toBe(true);
    expect(errorReached(s, { final: 2, failed: 2, open: 1 })).toBe(false);
    // no failure never halts, whatever the threshold
    expect(errorReached(resolveSafety({ errorThreshold: '0%', minFinished: 1 }), { final: 5, failed: 0, open: 0 })).toBe(false);
    // a count of failures
    const count = resolveSafety({ errorThreshold: 3, minFinished: 2 });
    expect(errorReached(count, { final: 2, failed: 2, open: 8 })).toBe(false);
    expect(errorReached(count, { final: 4, failed: 3, open: 6 })).toBe(true);
  });
});

describe('request schemas', () => {
  it('name the field of a bad group or safety value', () => {
    const bad = GroupsRequestSchema.safeParse([{ name: 'rest' }, { name: 'rest', devices: 2 }]);
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(['0.devices', '1.name']);
    expect(GroupsRequestSchema.safeParse([{ name: 'c', devices: '0%' }]).error?.issues[0]?.path).toEqual([0, 'devices']);
    expect(SafetyRequestSchema.safeParse({ successThreshold: '120%' }).error?.issues[0]?.path).toEqual(['successThreshold']);
    expect(SafetyRequestSchema.safeParse({ approval: 'later' }).error?.issues[0]?.path).toEqual(['approval']);
    expect(SafetyRequestSchema.safeParse({ minFinished: 0 }).error?.issues[0]?.path).toEqual(['minFinished']);
    expect(SafetyRequestSchema.parse({ successThreshold: '90%', errorThreshold: 2, approval: 'manual' })).toEqual({
      successThreshold: '90%',
      errorThreshold: 2,
      approval: 'manual',
    });
  });
});
