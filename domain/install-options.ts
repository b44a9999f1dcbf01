/**
 * Installation options (SPEC R1, R6, R7): which install path and which file apply to a device.
 * Pure rules, shared by the API (validation of a rollout: clear 400s), the rollout workflow and
 * the install workflow's activities. Workflow-safe: no I/O, no Node APIs.
 *
 * DM-capable platforms (R1, "other software on any DM-capable device"): the platforms whose
 * devices carry an OMA DM client able to take a SCOMO/CAB install:
 * - `symbian` (S60 OMA DM client),
 * - `windows-mobile-pocketpc`, `windows-mobile-smartphone` (Windows Mobile 5/6 OMA DM client),
 * - `windows-ce` (Windows Embedded CE OMA DM client component),
 * - `android` (operator OMA DM clients, SCOMO).
 * Not DM-capable: `ios` (Apple devices are managed by Apple MDM, not OMA DM) and `other`
 * (nothing known about the device).
 * DME clients go by DM only to Symbian and Windows Mobile (the seed: "only shown for Symbian and
 * Windows Mobile clients"). In-house iOS apps never go by DM (they always go by SMS push, R6).
 */

export type Platform =
  | 'symbian'
  | 'windows-mobile-pocketpc'
  | 'windows-mobile-smartphone'
  | 'windows-ce'
  | 'ios'
  | 'android'
  | 'other';

export const PLATFORMS: readonly Platform[] = [
  'symbian',
  'windows-mobile-pocketpc',
  'windows-mobile-smartphone',
  'windows-ce',
  'ios',
  'android',
  'other',
] as const;

export const isPlatform = (s: unknown): s is Platform => typeof s === 'string' && (PLATFORMS as readonly string[]).includes(s);

export type PushMethodOption = 'sms' | 'wap' | 'mark';

export interface SoftwareFile {
  id: string;
  /** lower-case extension without the dot: cab exe sis sisx ipa apk … */
  format: string;
}

export interface SoftwareFacts {
  kind: 'dme-client' | 'other';
  platforms: Platform[];
  inHouseIos: boolean;
  files: SoftwareFile[];
}

/** Platforms with an OMA DM client (see the module comment). */
export const DM_CAPABLE_PLATFORMS: readonly Platform[] = [
  'symbian',
  'windows-mobile-pocketpc',
  'windows-mobile-smartphone',
  'windows-ce',
  'android',
];

/** Platforms to which a DME client may be installed by DM (R1: Symbian and Windows Mobile). */
const DME_CLIENT_DM_PLATFORMS: readonly Platform[] = ['symbian', 'windows-mobile-pocketpc', 'windows-mobile-smartphone'];

export type Applicability = { ok: true } | { ok: false; reason: string };

/**
 * R1: may this software be installed through the OMA DM engine (on this platform)?
 * Without `platform` it is the software-level check (the "Use DM" option is offered at all):
 * true when at least one of the software's target platforms takes it by DM.
 */
export function dmApplicability(software: SoftwareFacts, platform?: Platform): Applicability {
  if (software.inHouseIos) {
    return { ok: false, reason: 'Use DM does not apply to in-house iOS apps: they are always installed by SMS push' };
  }
  const allowed = software.kind === 'dme-client' ? DME_CLIENT_DM_PLATFORMS : DM_CAPABLE_PLATFORMS;
  const what =
    software.kind === 'dme-client'
      ? 'DME clients are installed by DM only on Symbian and Windows Mobile devices'
      : `other software is installed by DM only on DM-capable devices (${DM_CAPABLE_PLATFORMS.join(', ')})`;
  if (platform === undefined) {
    if (software.platforms.some((p) => allowed.includes(p))) return { ok: true };
    return {
      ok: false,
      reason: `Use DM does not apply to this software (platforms: ${software.platforms.join(', ') || 'none'}): ${what}`,
    };
  }
  if (!allowed.includes(platform)) {
    return { ok: false, reason: `Use DM does not apply to platform ${platform}: ${what}` };
  }
  if (!software.platforms.includes(platform)) {
    return { ok: false, reason: `the software does not target platform ${platform}` };
  }
  return { ok: true };
}

/** R6: in-house iOS apps always go by SMS push (with a manifest link); otherwise the rollout's choice. */
export function effectivePushMethod(software: SoftwareFacts, requested: PushMethodOption): PushMethodOption {
  return software.inHouseIos ? 'sms' : requested;
}

/** Installable file formats per platform, most preferred first. */
export const PLATFORM_FORMATS: Readonly<Record<Platform, readonly string[]>> = {
  symbian: ['sisx', 'sis', 'jar', 'jad'],
  'windows-mobile-pocketpc': ['cab', 'exe', 'msi'],
  // R7: no .cab for Windows Mobile Smartphones.
  'windows-mobile-smartphone': ['exe', 'msi'],
  'windows-ce': ['cab', 'exe', 'msi'],
  ios: ['ipa'],
  android: ['apk'],
  other: [],
};

const KNOWN_FORMATS: ReadonlySet<string> = new Set([...Object.values(PLATFORM_FORMATS).flat(), 'cab']);

/** The lower-case extension of a file name ("Client.CAB" → "cab"; no extension → ""). */
export function formatOf(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
}

export type FileChoice = { ok: true; fileId: string; format: string; note?: string } | { ok: false; reason: string };

/**
 * Which of the software's files goes to a device of this platform (R7 + platform support).
 * - The software must target the platform.
 * - The platform's preferred formats are tried in order (e.g. .sisx before .sis).
 * - Windows Mobile Smartphone: never a .cab (R7): the .exe variant when there is one, else refused.
 * - A file of a format no platform claims (e.g. .zip) is accepted as a last resort, with a note;
 *   a file of another platform's format (e.g. .apk for Symbian) is not.
 * - Platform `other`: the first file.
 */
export function chooseFile(software: SoftwareFacts, platform: Platform): FileChoice {
  if (!software.platforms.includes(platform)) {
    return {
      ok: false,
      reason: `the software does not target platform ${platform} (it targets ${software.platforms.join(', ') || 'none'})`,
    };
  }
  const files = software.files.map((f) => ({ ...f, format: f.format.toLowerCase().replace(/^\./, '') }));
  if (files.length === 0) return { ok: false, reason: 'the software has no file' };
  if (platform === 'other') {
    const f = files[0] as SoftwareFile;
    return { ok: true, fileId: f.id, format: f.format };
  }
  for (const fmt of PLATFORM_FORMATS[platform]) {
    const f = files.find((x) => x.format === fmt);
    if (f) {
      const note =
        platform === 'windows-mobile-smartphone' && files.some((x) => x.format === 'cab')
          ? `.cab files cannot be installed on Windows Mobile Smartphones: the .${f.format} variant is used (R7)`
          : undefined;
      return note ? { ok: true, fileId: f.id, format: f.format, note } : { ok: true, fileId: f.id, format: f.format };
    }
  }
  if (platform === 'windows-mobile-smartphone' && files.some((x) => x.format === 'cab')) {
    return {
      ok: false,
      reason: '.cab files cannot be pushed or pulled to Windows Mobile Smartphones and the software has no .exe variant (R7)',
    };
  }
  const unknown = files.find((x) => !KNOWN_FORMATS.has(x.format));
  if (unknown) {
    return {
      ok: true,
      fileId: unknown.id,
      format: unknown.format,
      note: `.${unknown.format || '(no extension)'} is not a known install format for ${platform}; sent as is`,
    };
  }
  return {
    ok: false,
    reason: `no file for platform ${platform}: it takes ${PLATFORM_FORMATS[platform].map((x) => `.${x}`).join(', ')}, the software has ${files.map((x) => `.${x.format}`).join(', ')}`,
  };
}
