/** Per device, not all or nothing (issue 14): first methods, unreachable devices, Use DM on a mixed fleet. */
import { describe, expect, it } from 'vitest';
import type { SoftwareFacts } from '../../domain/install-options';
import { dmForFleet, firstMethod, nameDevices, needsMsisdn, platformFiles, unreachable } from '../../domain/reachability';

const app: SoftwareFacts = {
  kind: 'other',
  platforms: ['android', 'ios', 'windows-mobile-smartphone', 'windows-mobile-pocketpc'],
  inHouseIos: false,
  files: [
    { id: 'apk', format: 'apk' },
    { id: 'ipa', format: 'ipa' },
    { id: 'cab', format: 'cab' },
  ],
};
const inHouse: SoftwareFacts = { kind: 'other', platforms: ['ios'], inHouseIos: true, files: [{ id: 'ipa', format: 'ipa' }] };
const dme: SoftwareFacts = {
  kind: 'dme-client',
  platforms: ['android', 'symbian'],
  inHouseIos: false,
  files: [{ id: 'apk', format: 'apk' }],
};

describe('firstMethod', () => {
  it('DM where Use DM applies to the platform, the push method elsewhere', () => {
    expect(firstMethod(app, { useDm: true, push: 'wap' }, 'android')).toBe('dm');
    expect(firstMethod(app, { useDm: true, push: 'wap' }, 'ios')).toBe('wap');
    expect(firstMethod(app, { useDm: false, push: 'wap' }, 'android')).toBe('wap');
    // a DME client goes by DM only to Symbian and Windows Mobile (R1)
    expect(firstMethod(dme, { useDm: true, push: 'sms' }, 'symbian')).toBe('dm');
    expect(firstMethod(dme, { useDm: true, push: 'mark' }, 'android')).toBe('mark');
  });
  it('an in-house iOS app always by SMS (R6)', () => {
    expect(firstMethod(inHouse, { useDm: false, push: 'mark' }, 'ios')).toBe('sms');
    expect(needsMsisdn(inHouse, 'mark')).toBe(true);
    expect(needsMsisdn(app, 'mark')).toBe(false);
    expect(needsMsisdn(app, 'wap')).toBe(true);
  });
});

describe('unreachable', () => {
  it('no MSISDN for an SMS / WAP push or an in-house app; blank counts as none; mark needs none', () => {
    expect(unreachable(app, 'sms', { platform: 'android', msisdn: null })).toEqual({
      kind: 'no-msisdn',
      reason: 'SMS push needs an MSISDN and the device has none',
    });
    expect(unreachable(app, 'wap', { platform: 'android', msisdn: '  ' })?.reason).toMatch(/^WAP push/);
    expect(unreachable(app, 'sms', { platform: 'android', msisdn: '+491' })).toBeUndefined();
    expect(unreachable(app, 'mark', { platform: 'android', msisdn: null })).toBeUndefined();
    expect(unreachable(inHouse, 'mark', { platform: 'ios', msisdn: undefined })?.reason).toMatch(
      /in-house iOS app goes only by SMS/,
    );
  });
  it('R7: no .cab for a Windows Mobile Smartphone; a platform the software does not target', () => {
    expect(unreachable(app, 'mark', { platform: 'windows-mobile-smartphone', msisdn: '+1' })).toMatchObject({
      kind: 'no-file',
      reason: expect.stringMatching(/\.cab files cannot be pushed or pulled to Windows Mobile Smartphones/),
    });
    expect(unreachable(app, 'mark', { platform: 'windows-mobile-pocketpc', msisdn: null })).toBeUndefined();
    expect(unreachable(app, 'mark', { platform: 'symbian', msisdn: '+1' })?.kind).toBe('no-file');
  });
  it('platformFiles: the file of each platform, or why there is none', () => {
    const { files, refused } = platformFiles(app, ['android', 'windows-mobile-smartphone', 'windows-mobile-pocketpc']);
    expect([...files]).toEqual([
      ['android', 'apk'],
      ['windows-mobile-pocketpc', 'cab'],
    ]);
    expect([...refused.keys()]).toEqual(['windows-mobile-smartphone']);
  });
});

describe('dmForFleet', () => {
  it('applies when DM applies to at least one selected platform', () => {
    expect(dmForFleet(app, ['ios', 'android'])).toEqual({ ok: true });
  });
  it('refused when it applies to none, or not to the software at all', () => {
    const none = dmForFleet(app, ['ios']);
    expect(none.ok).toBe(false);
    expect(!none.ok && none.reason).toMatch(/applies to none of the selected devices \(Use DM does not apply to platform ios/);
    const sw = dmForFleet(inHouse, ['ios']);
    expect(!sw.ok && sw.reason).toMatch(/in-house iOS apps/);
  });
});

it('nameDevices lists the first names and how many more', () => {
  expect(nameDevices(['a', 'b'], 2)).toBe('a, b');
  expect(nameDevices(['a', 'b', 'c'], 12, 2)).toBe('a, b and 10 more');
});
