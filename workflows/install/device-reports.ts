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

/** A signal payload the handlers cannot use: said in the job's log (when `describe` is given), never thrown. */
export type MalformedSignal = (signal: string, why: string) => void;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optionalString = (v: unknown) => v === undefined || typeof v === 'string';
const DOWNLOAD_SOURCES = new Set(['download', 'report']);
const REPORT_PHASES = new Set(['download-begin', 'download-end', 'post-install']);

/** A payload for the log: short, whatever it is. */
function shown(v: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
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

  /**
   * Set (since the `install-signal-payloads-checked` patch): every payload is checked, a malformed
   * one is ignored and reported here. Unset (executions from before): the old leniency, except that a
   * payload that would throw (`dmInstallResult(null)`) is ignored too — a throwing handler fails the
   * workflow task for ever.
   */
  malformed: MalformedSignal | undefined;

  private software: InstallContext['software'] | undefined;
  /** Syncs that arrived before the job knew its software. */
  private readonly earlySyncs: Record<string, string>[] = [];

  onBootstrapConfirmed(): void {
    this.bootstrapConfirmed = true;
  }

  onDmInstallResult(r: unknown): void {
    const ok =
      isObject(r) &&
      typeof r.success === 'boolean' &&
      (r.code === undefined || (typeof r.code === 'number' && Number.isFinite(r.code))) &&
      optionalString(r.detail);
    if (this.rejected(ok, 'dmInstallResult', 'expected { success: boolean, code?: number, detail?: string }', r)) return;
    if (!isObject(r)) return; // unpatched executions: lenient, but null would throw
    const { success, code, detail } = r as Partial<DmInstallResult>;
    this.dmResult ??= { success: !!success, code, detail };
  }

  onDownloaded(d: unknown): void {
    const ok = isObject(d) && DOWNLOAD_SOURCES.has(d.source as string) && optionalString(d.ticket) && optionalString(d.at);
    if (this.rejected(ok, 'downloaded', 'expected { source: "download" | "report", ticket?, at? }', d)) return;
    const p = isObject(d) ? (d as { source?: 'download' | 'report'; ticket?: string }) : undefined;
    this.downloaded ??= { source: p?.source ?? 'download', ticket: p?.ticket };
  }

  onDownloadFailed(f: unknown): void {
    const ok = isObject(f) && REPORT_PHASES.has(f.phase as string) && optionalString(f.detail);
    const expected = 'expected { phase: "download-begin" | "download-end" | "post-install", detail? }';
    if (this.rejected(ok, 'downloadFailed', expected, f)) return;
    const p = isObject(f) ? (f as { phase?: string; detail?: string }) : undefined;
    const text = `${p?.phase ?? 'unknown phase'} failed${p?.detail ? `: ${p.detail}` : ''}`;
    if (p?.phase === 'post-install') this.postInstallFailure ??= text;
    else this.lastDownloadFailure = text;
  }

  onSysinfoSynced(s: unknown): void {
    const installed = isObject(s) ? s.installed : undefined;
    if (!this.malformed) {
      if (installed && typeof installed === 'object') this.noteSync(installed as Record<string, string>);
      return;
    }
    const version = (v: unknown) => v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
    const ok = isObject(installed) && Object.values(installed).every(version);
    if (this.rejected(ok, 'sysinfoSynced', 'expected { installed: { <name>: <version> } }', s)) return;
    const versions: Record<string, string> = {};
    for (const [k, v] of Object.entries(installed as Record<string, unknown>)) if (v !== null) versions[k] = String(v);
    this.noteSync(versions);
  }

  /** Since the patch: a payload that is not `ok` is reported and ignored (true). */
  private rejected(ok: boolean, signal: string, expected: string, payload: unknown): boolean {
    if (ok || !this.malformed) return false;
    this.malformed(signal, `${expected}, got ${shown(payload)}`);
    return true;
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
