import { describe, expect, it } from 'vitest';
import {
  chooseFile,
  DM_CAPABLE_PLATFORMS,
  dmApplicability,
  effectivePushMethod,
  formatOf,
  isPlatform,
  PLATFORMS,
  type Platform,
  type SoftwareFacts,
} from '../../domain/install-options';

const sw = (over: Partial<SoftwareFacts> = {}): SoftwareFacts => ({
  kind: 'other',
  platforms: [...PLATFORMS],
  inHouseIos: false,
  files: [{ id: 'f1', format: 'cab' }],
  ...over,
});

describe('dmApplicability (R1)', () => {
  it('DME clients: only Symbian and Windows Mobile', () => {
    const dme = sw({ kind: 'dme-client' });
    const ok: Platform[] = ['symbian', 'windows-mobile-pocketpc', 'windows-mobile-smartphone'];
    for (const p of PLATFORMS) {
      const r = dmApplicability(dme, p);
      expect(r.ok, p).toBe(ok.includes(p));
      if (!r.ok) expect(r.reason).toMatch(/Symbian and Windows Mobile/);
    }
  });

  it('other software: every DM-capable platform (not iOS, not other)', () => {
    expect(DM_CAPABLE_PLATFORMS).toEqual([
      'symbian',
      'windows-mobile-pocketpc',
      'windows-mobile-smartphone',
      'windows-ce',
      'android',
    ]);
    for (const p of PLATFORMS) expect(dmApplicability(sw(), p).ok, p).toBe(DM_CAPABLE_PLATFORMS.includes(p));
    const r = dmApplicability(sw(), 'ios');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/platform ios/);
  });

  it('never for in-house iOS apps, with the reason', () => {
    const r = dmApplicability(sw({ inHouseIos: true, platforms: ['ios', 'android'] }), 'android');
    expect(r).toEqual({ ok: false, reason: expect.stringMatching(/in-house iOS.*SMS push/) });
    expect(dmApplicability(sw({ inHouseIos: true, platforms: ['ios'] })).ok).toBe(false);
  });

  it('not on a platform the software does not target', () => {
    const r = dmApplicability(sw({ platforms: ['symbian'] }), 'android');
    expect(r).toEqual({ ok: false, reason: 'the software does not target platform android' });
  });

  it('software level (no platform): applies when one of its platforms takes it', () => {
    expect(dmApplicability(sw({ kind: 'dme-client', platforms: ['symbian', 'ios'] })).ok).toBe(true);
    const r = dmApplicability(sw({ kind: 'dme-client', platforms: ['android', 'windows-ce'] }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/android, windows-ce/);
    expect(dmApplicability(sw({ platforms: ['android'] })).ok).toBe(true);
    expect(dmApplicability(sw({ platforms: ['ios', 'other'] })).ok).toBe(false);
    expect(dmApplicability(sw({ platforms: [] })).ok).toBe(false);
  });
});

describe('effectivePushMethod (R6)', () => {
  it('in-house iOS apps always go by SMS push', () => {
    for (const m of ['sms', 'wap', 'mark'] as const) {
      expect(effectivePushMethod(sw({ inHouseIos: true }), m)).toBe('sms');
      expect(effectivePushMethod(sw(), m)).toBe(m);
    }
  });
});

describe('chooseFile (R7 + platform support)', () => {
  it('.cab to a Windows Mobile Smartphone: the .exe variant when there is one, with a note', () => {
    const r = chooseFile(
      sw({
        files: [
          { id: 'cab', format: 'cab' },
          { id: 'exe', format: 'exe' },
        ],
      }),
      'windows-mobile-smartphone',
    );
    expect(r).toEqual({ ok: true, fileId: 'exe', format: 'exe', note: expect.stringMatching(/\.cab.*Smartphones.*\.exe/) });
  });

  it('.cab only to a Windows Mobile Smartphone: refused with a clear reason', () => {
    const r = chooseFile(sw({ files: [{ id: 'cab', format: 'CAB' }] }), 'windows-mobile-smartphone');
    expect(r).toEqual({
      ok: false,
      reason: expect.stringMatching(/\.cab files cannot be pushed or pulled to Windows Mobile Smartphones.*no \.exe/),
    });
  });

  it('.cab is preferred on Pocket PC and Windows CE', () => {
    const files = [
      { id: 'exe', format: 'exe' },
      { id: 'cab', format: 'cab' },
    ];
    expect(chooseFile(sw({ files }), 'windows-mobile-pocketpc')).toEqual({ ok: true, fileId: 'cab', format: 'cab' });
    expect(chooseFile(sw({ files }), 'windows-ce')).toEqual({ ok: true, fileId: 'cab', format: 'cab' });
  });

  it('the platform formats: .sisx before .sis, .ipa for iOS, .apk for Android', () => {
    const files = [
      { id: 'sis', format: 'sis' },
      { id: 'sisx', format: 'sisx' },
      { id: 'ipa', format: 'ipa' },
      { id: 'apk', format: 'apk' },
    ];
    expect(chooseFile(sw({ files }), 'symbian')).toMatchObject({ ok: true, fileId: 'sisx' });
    expect(chooseFile(sw({ files }), 'ios')).toMatchObject({ ok: true, fileId: 'ipa' });
    expect(chooseFile(sw({ files }), 'android')).toMatchObject({ ok: true, fileId: 'apk' });
  });

  it('another platform’s format is refused; an unknown format is sent as is, with a note', () => {
    const r = chooseFile(sw({ files: [{ id: 'apk', format: 'apk' }] }), 'symbian');
    expect(r).toEqual({
      ok: false,
      reason: expect.stringMatching(/no file for platform symbian: it takes \.sisx, \.sis.*has \.apk/),
    });
    expect(chooseFile(sw({ files: [{ id: 'zip', format: 'zip' }] }), 'android')).toEqual({
      ok: true,
      fileId: 'zip',
      format: 'zip',
      note: expect.stringMatching(/\.zip is not a known install format for android/),
    });
  });

  it('platform other: the first file', () => {
    expect(chooseFile(sw({ files: [{ id: 'a', format: 'bin' }] }), 'other')).toEqual({ ok: true, fileId: 'a', format: 'bin' });
  });

  it('a platform the software does not target, or no file at all: refused', () => {
    expect(chooseFile(sw({ platforms: ['symbian'] }), 'android')).toEqual({
      ok: false,
      reason: 'the software does not target platform android (it targets symbian)',
    });
    expect(chooseFile(sw({ files: [] }), 'android')).toEqual({ ok: false, reason: 'the software has no file' });
  });
});

describe('helpers', () => {
  it('formatOf: lower-case extension', () => {
    expect(formatOf('Client.CAB')).toBe('cab');
    expect(formatOf('dir.v2/app')).toBe('');
    expect(formatOf('.hidden')).toBe('');
    expect(formatOf('C:\\apps\\setup.Exe')).toBe('exe');
  });
  it('isPlatform', () => {
    expect(PLATFORMS.every(isPlatform)).toBe(true);
    expect(isPlatform('windows-mobile')).toBe(false);
    expect(isPlatform(undefined)).toBe(false);
  });
});
