/**
 * Installation job statuses: the exact strings of the seed's status table (SPEC "Status flow").
 * The dash in the two-part statuses is an en dash (U+2013).
 */
export const STATUS = {
  waitingForBootstrap: 'Waiting for bootstrap',
  installingSoftware: 'Installing software',
  installedWaitingForVerification: 'Installed – Waiting for verification',
  installed: 'Installed',
  installedVerified: 'Installed – Verified',
  waitingForDownload: 'Waiting for download',
  downloadedWaitingForVerification: 'Downloaded – Waiting for verification',
  downloaded: 'Downloaded',
  downloadedVerified: 'Downloaded – Verified',
  installationFailed: 'Installation failed',
  unknownStatus: 'Unknown status',
  /** R8: the device already has a newer version; the job closes without action. */
  notNeeded: 'Not needed',
  /** The rollout was cancelled before this job reached a final status. */
  cancelled: 'Cancelled',
} as const;

export type InstallStatus = (typeof STATUS)[keyof typeof STATUS];

export const FINAL_STATUSES: ReadonlySet<InstallStatus> = new Set<InstallStatus>([
  STATUS.installed,
  STATUS.installedVerified,
  STATUS.downloaded,
  STATUS.downloadedVerified,
  STATUS.installationFailed,
  STATUS.unknownStatus,
  STATUS.notNeeded,
  STATUS.cancelled,
]);

export const SUCCESS_STATUSES: ReadonlySet<InstallStatus> = new Set<InstallStatus>([
  STATUS.installed,
  STATUS.installedVerified,
  STATUS.downloaded,
  STATUS.downloadedVerified,
  STATUS.notNeeded,
]);

export const FAILURE_STATUSES: ReadonlySet<InstallStatus> = new Set<InstallStatus>([
  STATUS.installationFailed,
  STATUS.unknownStatus,
]);

export const ALL_STATUSES: readonly InstallStatus[] = Object.values(STATUS);

export const isInstallStatus = (s: unknown): s is InstallStatus => (ALL_STATUSES as readonly unknown[]).includes(s);

export const isFinal = (s: string | null | undefined): boolean => !!s && FINAL_STATUSES.has(s as InstallStatus);
