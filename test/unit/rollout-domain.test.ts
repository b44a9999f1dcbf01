/**
 * Pure parts of the rollout: the request schema (defaults, field names in errors), installation ids
 * that encode their seq, the workflow's finished-seq bitmap (SeqSet) and the slot-planning local
 * activity (day ends, per-day counter → S7).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planRolloutSlots } from '../../activities/rollout';
import { defaultFailureThreshold, parseDurationMs, RolloutRequestSchema } from '../../domain/rollout-request';
import { installationIdFor, installationSeq } from '../../workflows/messages';
import { SeqSet } from '../../workflows/rollout/seq-set';

const UUID = '3f2a9c1e-7b4d-4e8a-9c21-5d6e7f8a9b0c';

describe('RolloutRequestSchema', () => {
  const base = { softwareId: UUID, devices: { ids: [UUID] } };

  it('fills the defaults: Use DM off, SMS push, 3 push attempts, no notify, schedule defaults later', () => {
    expect(RolloutRequestSchema.parse(base)).toEqual({
      ...base,
      options: { useDm: false, push: 'sms', maxPushAttempts: 3 },
      schedule: {},
      notify: [],
    });
    expect(RolloutRequestSchema.parse({ ...base, options: { push: 'wap' } }).options).toEqual({
      useDm: false,
      push: 'wap',
      maxPushAttempts: 3,
    });
  });

  it.each([
    [{ ...base, devices: {} }, 'devices', /exactly one/],
    [{ ...base, devices: { ids: [UUID], filter: { platform: 'ios' } } }, 'devices', /exactly one/],
    [{ ...base, devices: { filter: {} } }, 'devices.filter', /at least one of platform, tags/],
    [{ ...base, devices: { filter: { tags: ['Berlin'] } } }, 'devices.filter.tags.0', /lower-case/],
    [
      { ...base, devices: { filter: { installed: { name: 'App', missing: false } } } },
      'devices.filter.installed.missing',
      /true/,
    ],
    [{ ...base, devices: { filter: { contactedWithin: '30 days' } } }, 'devices.filter.contactedWithin', /duration/],
    [{ ...base, options: { maxPushAttempts: 0 } }, 'options.maxPushAttempts', /1 to 10/],
    [{ ...base, schedule: { perDay: 'many' } }, 'schedule.perDay', /"unlimited"/],
    [{ ...base, schedule: { window: { start: '25:00' } } }, 'schedule.window.start', /HH:MM/],
    [{ ...base, schedule: { weekdays: ['mo'] } }, 'schedule.weekdays.0', /mon, tue/],
    [{ ...base, timeouts: { verification: '2 weeks' } }, 'timeouts.verification', /duration/],
    [{ ...base, timeouts: { verification: '400d' } }, 'timeouts.verification', /365 d/],
    [{ ...base, timeouts: { dmInstall: 10 } }, 'timeouts.dmInstall', /duration/],
    [{ ...base, notify: ['not-an-address'] }, 'notify.0', /email/],
  ])('errors name the field (%#)', (body, field, message) => {
    const r = RolloutRequestSchema.safeParse(body);
    expect(r.success).toBe(false);
    const issue = r.error!.issues[0]!;
    expect(issue.path.join('.')).toBe(field);
    expect(issue.message).toMatch(message);
  });

  it('accepts "24:00" as a window end and durations as text or milliseconds', () => {
    const r = RolloutRequestSchema.parse({
      ...base,
      schedule: { window: { start: '00:00', end: '24:00' } },
      timeouts: { bootstrap: '90s', ticketLifetime: 3_600_000 },
    });
    expect(r.schedule.window).toEqual({ start: '00:00', end: '24:00' });
    expect(parseDurationMs(r.timeouts!.bootstrap!)).toBe(90_000);
    expect(parseDurationMs(r.timeouts!.ticketLifetime!)).toBe(3_600_000);
    expect(parseDurationMs('1.5h')).toBe(5_400_000);
  });

  it('default failure threshold: 10% of the jobs, at least 1', () => {
    expect([1, 9, 10, 11, 100, 1005].map(defaultFailureThreshold)).toEqual([1, 1, 1, 2, 10, 101]);
  });
});

describe('installation ids encode (rollout, seq)', () => {
  it('round trip for any seq; valid v4-shaped uuid', () => {
    fc.assert(
      fc.property(fc.uuid({ version: 4 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (rollout, seq) => {
        const id = installationIdFor(rollout, seq);
        expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(installationSeq(rollout, id)).toBe(seq);
        expect(installationSeq(rollout.toUpperCase(), id.toUpperCase())).toBe(seq);
      }),
    );
  });

  it('an id of another rollout, or not of this scheme, has no seq here', () => {
    const other = '9e8d7c6b-5a49-4382-a716-151413121110';
    expect(installationSeq(UUID, installationIdFor(other, 5))).toBeUndefined();
    expect(installationSeq(UUID, 'nope')).toBeUndefined();
    expect(installationSeq(UUID, `${UUID.slice(0, 24)}zzzzzzzzzzzz`)).toBeUndefined();
  });
});

describe('SeqSet (the rollout workflow\u2019s finished bookkeeping)', () => {
  it('adds once, compacts the full prefix, survives encode/decode', () => {
    const s = SeqSet.empty();
    expect(s.add(3)).toBe(true);
    expect(s.add(3)).toBe(false);
    for (let i = 0; i < 20; i++) s.add(i);
    expect(s.low).toBe(16); // two full bytes compacted
    expect(s.sizeAboveLow).toBe(4);
    expect(s.has(0) && s.has(19) && !s.has(20)).toBe(true);
    const back = SeqSet.decode(s.encode());
    expect(back.low + back.sizeAboveLow).toBe(20);
    expect(back.has(19)).toBe(true);
    expect(back.has(20)).toBe(false);
  });

  it('random insertion orders: membership and size match a Set; the carried state stays small once the prefix is full', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 400 }), (xs) => {
        const s = SeqSet.empty();
        const ref = new Set<number>();
        for (const x of xs) {
          expect(s.add(x)).toBe(!ref.has(x));
          ref.add(x);
        }
        const back = SeqSet.decode(s.encode());
        expect(back.low + back.sizeAboveLow).toBe(ref.size);
        for (let i = 0; i <= 2001; i++) expect(back.has(i)).toBe(ref.has(i));
      }),
    );
    const all = SeqSet.empty();
    for (let i = 99_999; i >= 0; i--) all.add(i); // worst order: the prefix fills last
    expect(all.encode()).toEqual({ base: 100_000, hex: '' });
  });
});

describe('planRolloutSlots (the local activity)', () => {
  const schedule = {
    perDay: 4,
    startDate: '2025-03-28',
    weekdays: ['fri', 'mon'] as ('fri' | 'mon')[],
    window: { start: '09:00', end: '17:00' },
    timeZone: 'Europe/Berlin',
  };

  it('slots with their calendar day and that day\u2019s end (next local midnight), across a DST change', () => {
    const r = planRolloutSlots({ schedule, now: Date.parse('2025-03-28T06:00:00Z'), count: 6, startsByDay: {} });
    expect(r.today).toBe('2025-03-28');
    expect(r.slots.map((s) => s.date)).toEqual([
      '2025-03-28',
      '2025-03-28',
      '2025-03-28',
      '2025-03-28',
      '2025-03-31',
      '2025-03-31',
    ]);
    expect(new Date(r.slots[0]!.at).toISOString()).toBe('2025-03-28T08:00:00.000Z'); // 09:00 CET
    expect(new Date(r.slots[4]!.at).toISOString()).toBe('2025-03-31T07:00:00.000Z'); // 09:00 CEST
    expect(r.dayEnds).toEqual({
      '2025-03-28': Date.parse('2025-03-28T23:00:00Z'),
      '2025-03-31': Date.parse('2025-03-31T22:00:00Z'),
    });
  });

  it('uses today\u2019s start count (S7): 3 already started today → one more today', () => {
    const r = planRolloutSlots({
      schedule,
      now: Date.parse('2025-03-28T08:30:00Z'),
      count: 3,
      startsByDay: { '2025-03-28': 3, '2025-03-27': 4 },
    });
    expect(r.slots.map((s) => s.date)).toEqual(['2025-03-28', '2025-03-31', '2025-03-31']);
  });

  it('an invalid schedule is a non-retryable failure', () => {
    expect(() => planRolloutSlots({ schedule: { ...schedule, perDay: 0 }, now: 0, count: 1, startsByDay: {} })).toThrow(/perDay/);
  });
});
