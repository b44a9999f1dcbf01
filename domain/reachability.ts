/**
 * Per device, not all or nothing (issue 14, SPEC G4): how a rollout reaches each selected device, and
 * which devices it cannot reach at all. Pure rules over install-options.ts (R1, R6, R7), shared by the
 * rollout checks (services/rollouts/reachability.ts) and the preview.
 *
 * - Use DM applies per device (R1): DM where it applies to the device's platform, the rollout's push
 *   method for the others — the install workflow makes the same choice per device.
 * - A device is **unreachable** when no file fits its platform (R7: a .cab-only package for Windows
 *   Mobile Smartphones; a platform the software does not target), or when the push goes by SMS / WAP
 *   (an in-house iOS app always does, R6) and the device has no MSISDN — the DM trigger is an SMS too,
 *   and an in-house iOS job never degrades to a plain link.
 */
import {
  type Applicability,
  chooseFile,
  dmApplicability,
  effectivePushMethod,
  type Platform,
  type PushMethodOption,
  type SoftwareFacts,
} from './install-options';

export type FirstMethod = 'dm' | PushMethodOption;

/** Why a device cannot be reached: no file for its platform, or no MSISDN for an SMS / WAP push. */
export type UnreachableKind = 'no-file' | 'no-msisdn';

export interface ReachOptions {
  useDm: boolean;
  /** The push method the rollout asked for (R6 may turn it into SMS). */
  push: PushMethodOption;
}

/** The first method a job of this platform tries: DM where it applies (R1), else the effective push method. */
export function firstMethod(software: SoftwareFacts, options: ReachOptions, platform: Platform): FirstMethod {
  if (options.useDm && dmApplicability(software, platform).ok) return 'dm';
  return effectivePushMethod(software, options.push);
}

/** Whether the pushes of this rollout need the device's MSISDN (SMS or WAP push; in-house iOS: always). */
export const needsMsisdn = (software: SoftwareFacts, push: PushMethodOption): boolean =>
  effectivePushMethod(software, push) !== 'mark';

/** Per platform: the file (R7) or why there is none. */
export function platformFiles(
  software: SoftwareFacts,
  platforms: Iterable<Platform>,
): { files: Map<Platform, string>; refused: Map<Platform, string> } {
  const files = new Map<Platform, string>();
  const refused = new Map<Platform, string>();
  for (const p of platforms) {
    const c = chooseFile(software, p);
    if (c.ok) files.set(p, c.fileId);
    else refused.set(p, c.reason);
  }
  return { files, refused };
}

/** Why one device cannot be reached, if it cannot. */
export function unreachable(
  software: SoftwareFacts,
  push: PushMethodOption,
  device: { platform: Platform; msisdn: string | null | undefined },
): { kind: UnreachableKind; reason: string } | undefined {
  const c = chooseFile(software, device.platform);
  if (!c.ok) return { kind: 'no-file', reason: c.reason };
  if (needsMsisdn(software, push) && !device.msisdn?.trim()) {
    return {
      kind: 'no-msisdn',
      reason: software.inHouseIos
        ? 'an in-house iOS app goes only by SMS push (R6) and the device has no MSISDN'
        : `${push === 'wap' ? 'WAP' : 'SMS'} push needs an MSISDN and the device has none`,
    };
  }
  return undefined;
}

/**
 * R1 on a mixed fleet: Use DM is refused only when it applies to the software on none of the selected
 * platforms (or not to the software at all: an in-house iOS app); otherwise the devices it does not
 * apply to take the push method.
 */
export function dmForFleet(software: SoftwareFacts, platforms: Iterable<Platform>): Applicability {
  const sw = dmApplicability(software);
  if (!sw.ok) return sw;
  const reasons: string[] = [];
  for (const p of platforms) {
    const a = dmApplicability(software, p);
    if (a.ok) return a;
    reasons.push(a.reason);
  }
  return {
    ok: false,
    reason: `Use DM applies to none of the selected devices (${reasons.join('; ') || 'no device'}); start the rollout without Use DM`,
  };
}

/** "3 device(s): a, b, c and 1 more" — how an error names the devices at fault. */
export function nameDevices(names: readonly string[], total: number, shown = 10): string {
  const listed = names.slice(0, shown);
  const rest = total - listed.length;
  return `${listed.join(', ')}${rest > 0 ? ` and ${rest} more` : ''}`;
}
