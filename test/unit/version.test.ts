import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareVersions, decideVersion, reportedVersion, reportsVersion, sameVersion } from '../../domain/version';

describe('compareVersions', () => {
  // [older, newer]
  const ordered: [string, string][] = [
    ['1.9', '1.10'], // numeric, not lexical
    ['1.2', '1.10'],
    ['0.9.9', '1.0'],
    ['1.0', '1.0.1'],
    ['2.0', '10.0'],
    ['5.2', '5.2 build 7'], // a build number counts
    ['5.2 build 6', '5.2 build 7'],
    ['5.2 build 7', '5.3'],
    ['1.0-alpha', '1.0'], // pre-releases sort below the release
    ['1.0-alpha', '1.0-beta'],
    ['1.0a1', '1.0a2'],
    ['1.0a2', '1.0b1'],
    ['1.0b1', '1.0rc1'],
    ['1.0rc1', '1.0rc2'],
    ['1.0rc2', '1.0'],
    ['1.0-dev', '1.0-alpha'],
    ['1.0-snapshot', '1.0-beta'],
    ['1.0-preview', '1.0-rc'],
    ['1.0-rc1', '1.0.1'],
    ['1.2', '1.2a'], // a patch letter sorts above the release without it
    ['1.2a', '1.2b'],
    ['1.2b', '1.2.1'], // … and below a number at the same place
    ['1.2.0', '1.2a'], // … and above a 0 (1.2.0 = 1.2)
    ['1.0.5', '1.a'],
    ['1.2.0', '1.2.0.1'],
    ['9999999999999999999', '10000000000000000000'], // beyond Number precision
    ['', '0.1'],
    ['4.1 SP1', '4.1 SP2'],
  ];
  it.each(ordered)('%j < %j', (a, b) => {
    expect(compareVersions(a, b)).toBe(-1);
    expect(compareVersions(b, a)).toBe(1);
  });

  const same: [string, string][] = [
    ['2.0', '2.0.0'], // missing segments are 0
    ['2', '2.0.0.0'],
    ['1.01', '1.1'], // leading zeros
    ['V1.2', '1.2'], // a leading v / version label
    ['version 3.4', '3.4'],
    ['5.2 build 7', '5.2.7'], // labels only separate
    ['5.2 Build 7', '5.2 build 7'],
    ['1.0-RC1', '1.0rc1'], // case and separators
    ['1_2_3', '1.2.3'],
    [' 1.2 ', '1.2'],
    ['1.0.0', '1.0.0'],
    ['', ''],
  ];
  it.each(same)('%j == %j', (a, b) => {
    expect(compareVersions(a, b)).toBe(0);
    expect(compareVersions(b, a)).toBe(0);
    expect(sameVersion(a, b)).toBe(true);
  });

  const version = fc
    .array(fc.oneof(fc.nat({ max: 30 }).map(String), fc.constantFrom('a', 'b', 'rc', 'beta', 'build', 'sp', 'x')), {
      minLength: 1,
      maxLength: 5,
    })
    .chain((parts) => fc.constantFrom('.', '-', ' ').map((sep) => parts.join(sep)));

  it('is a total order: antisymmetric and transitive (property)', () => {
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        expect(compareVersions(a, b)).toBe(-compareVersions(b, a) || 0);
        if (compareVersions(a, b) <= 0 && compareVersions(b, c) <= 0) expect(compareVersions(a, c)).toBeLessThanOrEqual(0);
      }),
    );
  });

  it('appending .0 never changes a version (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 99 }), { minLength: 1, maxLength: 4 }), (parts) => {
        const v = parts.join('.');
        expect(compareVersions(v, `${v}.0`)).toBe(0);
      }),
    );
  });
});

describe('decideVersion (R8)', () => {
  const sw = { name: 'DME Client', version: '4.2.1' };
  it('no such software reported → install', () => {
    expect(decideVersion({}, sw)).toEqual({ action: 'install' });
    expect(decideVersion(null, sw)).toEqual({ action: 'install' });
    expect(decideVersion({ Other: '1.0' }, sw)).toEqual({ action: 'install' });
  });
  it('a blank reported version counts as not installed', () => {
    expect(decideVersion({ 'DME Client': '  ' }, sw)).toEqual({ action: 'install' });
  });
  it('older → upgrade', () => {
    expect(decideVersion({ 'DME Client': '4.2' }, sw)).toEqual({ action: 'upgrade', installedVersion: '4.2' });
    expect(decideVersion({ 'DME Client': '4.2.1-rc1' }, sw)).toEqual({ action: 'upgrade', installedVersion: '4.2.1-rc1' });
  });
  it('same → reconfigure (also when spelled differently)', () => {
    expect(decideVersion({ 'DME Client': '4.2.1' }, sw)).toEqual({ action: 'reconfigure', installedVersion: '4.2.1' });
    expect(decideVersion({ 'DME Client': '4.2.1.0' }, sw).action).toBe('reconfigure');
  });
  it('newer → newer (no action)', () => {
    expect(decideVersion({ 'DME Client': '4.10' }, sw)).toEqual({ action: 'newer', installedVersion: '4.10' });
  });
  it('matches the name case- and blank-insensitively when there is no exact key', () => {
    expect(reportedVersion({ 'dme  client ': '4.0' }, 'DME Client')).toBe('4.0');
    expect(reportedVersion({ 'DME Client': '4.1', 'dme client': '4.0' }, 'DME Client')).toBe('4.1');
  });
  it('reportsVersion (V2) is true only for the same version', () => {
    expect(reportsVersion({ 'DME Client': '4.2.1' }, sw)).toBe(true);
    expect(reportsVersion({ 'DME Client': 'v4.2.1.0' }, sw)).toBe(true);
    expect(reportsVersion({ 'DME Client': '4.2' }, sw)).toBe(false);
    expect(reportsVersion({}, sw)).toBe(false);
  });
});
