/**
 * What the device and the DM engine reported to one install job (the workflow's signals, R1–R6, V2):
 * kept whenever it arrives, so an early signal is not lost and a duplicate is harmless.
 */
import type { InstallContext } from '../../activities/install';
import { reportedVersion, reportsVersion } from '../../domain/version';

export interface DmInstallResult {
  success: boolean;
  code?: number;
  detail?: string;
}

export class DeviceReports {
  /** The first authenticated DM session confirmed the bootstrap (M2). */
  bootstrapConfirmed = false;
  /** The first DM install result (Generic Alert 1226). */
  dmResult: DmInstallResult | undefined;
  /** The first download: last byte served or download-end report. */
  downloaded: { source: 'download' | 'report'; ticket?: string } | undefined;
  /** A post-install failure: it ends any wait, and the job fails. */
  postInstallFailure: string | undefined;
  /** The last download failure the device reported (said when the last push expires). */
  lastDownloadFailure: string | undefined;
  /** The version of the job's software a system-info sync reported (V2), once it verifies the job. */
  verifiedBy: string | undefined;
  /** The last version of the job's software a sync reported. */
  lastReported: string | undefined;

  private software: InstallContext['software'] | undefined;
  /** Syncs that arrived before the job knew its software. */
  private readonly earlySyncs: Record<string, string>[] = [];

  onBootstrapConfirmed(): void {
    this.bootstrapConfirmed = true;
  }

  onDmInstallResult(r: DmInstallResult): void {
    this.dmResult ??= { success: !!r.success, code: r.code, detail: r.detail };
  }

  onDownloaded(d: { source?: 'download' | 'report'; ticket?: string } | undefined): void {
    this.downloaded ??= { source: d?.source ?? 'download', ticket: d?.ticket };
  }

  onDownloadFailed(f: { phase?: string; detail?: string } | undefined): void {
    const text = `${f?.phase ?? 'unknown phase'} failed${f?.detail ? `: ${f.detail}` : ''}`;
    if (f?.phase === 'post-install') this.postInstallFailure ??= text;
    else this.lastDownloadFailure = text;
  }

  onSysinfoSynced(s: { installed?: Record<string, string> } | undefined): void {
    if (s?.installed && typeof s.installed === 'object') this.noteSync(s.installed);
  }

  /** The job's software is known: the syncs that came before it count now. */
  softwareKnown(software: InstallContext['software']): void {
    this.software = software;
    for (const s of this.earlySyncs.splice(0)) this.noteSync(s);
  }

  /** The DM package URL is a ticket link too: its download is not a download of the push's link. */
  forgetDownload(): void {
    this.downloaded = undefined;
  }

  private noteSync(installed: Record<string, string>): void {
    if (!this.software) {
      this.earlySyncs.push(installed);
      return;
    }
    const v = reportedVersion(installed, this.software.name);
    if (v !== undefined) this.lastReported = v;
    if (this.verifiedBy === undefined && reportsVersion(installed, this.software)) this.verifiedBy = v;
  }
}
