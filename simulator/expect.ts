/**
 * Which knob each virtual device gets, and which final status its job must end in (the "expected
 * mix" the simulator checks at the end).
 */
import { dmApplicability, type Platform } from '../domain/install-options';
import { type InstallStatus, STATUS } from '../domain/status';
import type { FailureKnob } from './device';

export interface Shares {
  interrupt: number;
  neverBootstraps: number;
  dmFails: number;
  ignoresSms: number;
  neverSyncs: number;
  offline: number;
  /** The installer fails after the download: the device reports `post-install` failure (push path only). */
  installFails?: number;
}

export const NO_FAILURES: Shares = { interrupt: 0, neverBootstraps: 0, dmFails: 0, ignoresSms: 0, neverSyncs: 0, offline: 0 };

/** mulberry32: a small seeded PRNG, so that a run's knob assignment is reproducible (`--seed`). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/** Does the install of this software go by OMA DM on this platform (Use DM on, R1)? */
export function goesByDm(useDm: boolean, kind: 'dme-client' | 'other', platform: Platform, platforms: Platform[]): boolean {
  if (!useDm) return false;
  return dmApplicability({ kind, platforms, inHouseIos: false, files: [] }, platform).ok;
}

/**
 * Knobs for `n` devices: each failure knob goes to round(share × n) devices among those where it
 * has an effect (DM knobs: devices on the DM path; ignores SMS: devices not on the DM path with SMS
 * or WAP push), at most one failure knob per device; `interrupt` independently of them.
 */
export function assignKnobs(
  dmPath: readonly boolean[],
  push: 'sms' | 'wap' | 'mark',
  shares: Shares,
  random: () => number,
): { knob: (FailureKnob | null)[]; interrupt: boolean[] } {
  const n = dmPath.length;
  const knob: (FailureKnob | null)[] = new Array(n).fill(null);
  const order = shuffled(
    Array.from({ length: n }, (_, i) => i),
    random,
  );
  const eligible: Record<FailureKnob, (i: number) => boolean> = {
    neverBootstraps: (i) => !!dmPath[i],
    dmFails: (i) => !!dmPath[i],
    ignoresSms: (i) => !dmPath[i] && push !== 'mark',
    neverSyncs: () => true,
    offline: () => true,
    installFails: (i) => !dmPath[i],
  };
  for (const k of ['neverBootstraps', 'dmFails', 'ignoresSms', 'neverSyncs', 'offline', 'installFails'] as FailureKnob[]) {
    let want = Math.round((shares[k] ?? 0) * n);
    for (const i of order) {
      if (want <= 0) break;
      if (knob[i] === null && eligible[k](i)) {
        knob[i] = k;
        want--;
      }
    }
  }
  const interrupt: boolean[] = new Array(n).fill(false);
  let want = Math.round(shares.interrupt * n);
  for (const i of shuffled(order, random)) {
    if (want <= 0) break;
    if (knob[i] !== 'ignoresSms') {
      interrupt[i] = true;
      want--;
    }
  }
  return { knob, interrupt };
}

/** The final status a device's job must reach, given its knob and path. */
export function expectedStatus(
  d: { knob: FailureKnob | null; dmPath: boolean },
  o: { push: 'sms' | 'wap' | 'mark'; kind: 'dme-client' | 'other' },
): InstallStatus {
  const verified = o.kind === 'dme-client';
  if (d.dmPath && d.knob !== 'neverBootstraps' && d.knob !== 'dmFails') {
    if (!verified) return STATUS.installed;
    return d.knob === 'neverSyncs' ? STATUS.unknownStatus : STATUS.installedVerified;
  }
  // the download-link path (directly, or after the DM fallback)
  if (d.knob === 'installFails') return STATUS.installationFailed; // reported by the device
  if (o.push === 'mark' && d.knob === 'neverSyncs') return STATUS.installationFailed; // never polls: never gets the link
  if (o.push !== 'mark' && d.knob === 'ignoresSms') return STATUS.installationFailed; // the link expires unused
  if (!verified) return STATUS.downloaded;
  return d.knob === 'neverSyncs' ? STATUS.unknownStatus : STATUS.downloadedVerified;
}
