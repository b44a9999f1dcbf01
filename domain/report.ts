/**
 * Rollout reports (SPEC P1, P3; seed sccm2007): counts per status, the success list, the failure list
 * with reasons and the devices not heard from — and their rendering as the summary / alert email.
 *
 * PURE: the caller streams the rollout's jobs in (any number, e.g. page by page from Postgres); the
 * builder counts every job and keeps at most `listLimit` entries per list, so a 100,000-device
 * rollout makes a bounded report (the totals stay exact; the mail says how many more there are).
 *
 * Definitions
 * - success: a final status in SUCCESS_STATUSES (Installed, Installed – Verified, Downloaded,
 *   Downloaded – Verified, Not needed);
 * - failure: Installation failed, Unknown status — with the job's detail as the reason (or the last
 *   log message, or the status itself);
 * - cancelled: the rollout was cancelled before the job was final (neither success nor failure);
 * - not final: started and still open (only when a cancelled rollout closed before every child
 *   reported), or never started (status null);
 * - not heard from: the job was started and the device has not contacted the server since (no contact
 *   at all, or the last contact is before the job started) — whatever the job's status.
 */
import { FAILURE_STATUSES, type InstallStatus, STATUS, SUCCESS_STATUSES } from './status';
import { isoOrNull, toEpochMs } from './time';

export interface ReportJob {
  deviceId: string;
  externalId: string;
  platform?: string;
  /** null: never started */
  status: string | null;
  final: boolean;
  detail?: string | null;
  /** Last log message (used as the failure reason when there is no detail). */
  lastMessage?: string | null;
  startedAt?: Date | string | null;
  endedAt?: Date | string | null;
  lastContactAt?: Date | string | null;
}

export interface ReportEntry {
  deviceId: string;
  externalId: string;
  platform?: string;
  status: string | null;
  /** Failures: why. */
  reason?: string;
  /** Not heard from: last contact (ISO) or null for never. */
  lastContactAt?: string | null;
}

interface ReportList {
  /** How many jobs belong to the list (exact). */
  total: number;
  /** The first `listLimit` of them, in job order. */
  entries: ReportEntry[];
}

export type RolloutOutcomeKind = 'completed' | 'cancelled' | 'running';

export interface RolloutReport {
  rolloutId: string;
  software: { name: string; version: string };
  outcome: RolloutOutcomeKind;
  total: number;
  /** Jobs per status; never-started jobs under `Not started`. */
  counts: Record<string, number>;
  succeeded: ReportList;
  failed: ReportList;
  notHeardFrom: ReportList;
  cancelled: number;
  /** Jobs neither final nor cancelled (started and open, or never started). */
  notFinal: number;
  /** Where an admin reads the whole report (`GET /api/v1/rollouts/:id/report`), if known. */
  reportUrl?: string;
}

export const NOT_STARTED = 'Not started';

const isSuccess = (status: string | null): boolean => !!status && SUCCESS_STATUSES.has(status as InstallStatus);
const isFailure = (status: string | null): boolean => !!status && FAILURE_STATUSES.has(status as InstallStatus);

/** Started, and the device has not contacted the server since the job started. */
export function notHeardFrom(job: ReportJob): boolean {
  const started = toEpochMs(job.startedAt);
  if (started === undefined) return false;
  const contact = toEpochMs(job.lastContactAt);
  return contact === undefined || contact < started;
}

export function failureReason(job: ReportJob): string {
  const d = job.detail?.trim();
  if (d) return d;
  const m = job.lastMessage?.trim();
  if (m) return m;
  return job.status ?? 'unknown';
}

export class ReportBuilder {
  private total = 0;
  private readonly counts: Record<string, number> = {};
  private readonly lists = {
    succeeded: { total: 0, entries: [] as ReportEntry[] },
    failed: { total: 0, entries: [] as ReportEntry[] },
    notHeardFrom: { total: 0, entries: [] as ReportEntry[] },
  };
  private cancelled = 0;
  private notFinal = 0;

  constructor(private readonly listLimit = 200) {
    if (!Number.isInteger(listLimit) || listLimit < 0)
      throw new RangeError(`listLimit must be a whole number ≥ 0, got ${listLimit}`);
  }

  add(job: ReportJob): this {
    this.total++;
    const key = job.status ?? NOT_STARTED;
    this.counts[key] = (this.counts[key] ?? 0) + 1;
    const base: ReportEntry = {
      deviceId: job.deviceId,
      externalId: job.externalId,
      ...(job.platform ? { platform: job.platform } : {}),
      status: job.status,
    };
    if (job.final && isSuccess(job.status)) this.push('succeeded', base);
    else if (job.final && isFailure(job.status)) this.push('failed', { ...base, reason: failureReason(job) });
    else if (job.status === STATUS.cancelled) this.cancelled++;
    else this.notFinal++;
    if (notHeardFrom(job)) this.push('notHeardFrom', { ...base, lastContactAt: isoOrNull(job.lastContactAt) });
    return this;
  }

  addAll(jobs: Iterable<ReportJob>): this {
    for (const j of jobs) this.add(j);
    return this;
  }

  private push(list: keyof ReportBuilder['lists'], e: ReportEntry): void {
    const l = this.lists[list];
    l.total++;
    if (l.entries.length < this.listLimit) l.entries.push(e);
  }

  build(meta: { rolloutId: string; software: { name: string; version: string }; outcome: RolloutOutcomeKind }): RolloutReport {
    const copy = (l: ReportList): ReportList => ({ total: l.total, entries: [...l.entries] });
    return {
      ...meta,
      total: this.total,
      counts: { ...this.counts },
      succeeded: copy(this.lists.succeeded),
      failed: copy(this.lists.failed),
      notHeardFrom: copy(this.lists.notHeardFrom),
      cancelled: this.cancelled,
      notFinal: this.notFinal,
    };
  }
}

export function buildReport(
  meta: { rolloutId: string; software: { name: string; version: string }; outcome: RolloutOutcomeKind },
  jobs: Iterable<ReportJob>,
  listLimit = 200,
): RolloutReport {
  return new ReportBuilder(listLimit).addAll(jobs).build(meta);
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const device = (e: ReportEntry) => `${e.externalId}${e.platform ? ` (${e.platform})` : ''}`;

function sortedCounts(counts: Record<string, number>): [string, number][] {
  return Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function more(l: ReportList): number {
  return l.total - l.entries.length;
}

/** The summary email (P1, P3): subject, plain text and HTML carrying the same facts. */
export function renderSummary(r: RolloutReport): RenderedMail {
  const what = `${r.software.name} ${r.software.version}`;
  const verb = r.outcome === 'cancelled' ? 'cancelled' : r.outcome === 'completed' ? 'completed' : 'in progress';
  const subject = `DeviceRollout: rollout of ${what} ${verb} — ${r.succeeded.total} succeeded, ${r.failed.total} failed of ${r.total}`;

  const lines: string[] = [];
  lines.push(`Rollout ${r.rolloutId} of ${what}: ${verb}.`, '');
  if (r.reportUrl)
    lines.push(`Report: ${r.reportUrl}`, `Every job as CSV: ${r.reportUrl.replace(/\/report$/, '/installations.csv')}`, '');
  lines.push(`Devices: ${r.total}`);
  lines.push(`Succeeded: ${r.succeeded.total}`);
  lines.push(`Failed: ${r.failed.total}`);
  if (r.cancelled > 0) lines.push(`Cancelled: ${r.cancelled}`);
  if (r.notFinal > 0) lines.push(`Not final: ${r.notFinal}`);
  lines.push(`Not heard from: ${r.notHeardFrom.total}`, '');
  lines.push('Counts per status:');
  for (const [s, n] of sortedCounts(r.counts)) lines.push(`  ${s}: ${n}`);
  const section = (title: string, l: ReportList, fmt: (e: ReportEntry) => string) => {
    lines.push('', `${title} (${l.total}):`);
    if (l.total === 0) lines.push('  none');
    for (const e of l.entries) lines.push(`  - ${fmt(e)}`);
    if (more(l) > 0) lines.push(`  … and ${more(l)} more`);
  };
  section('Failures', r.failed, (e) => `${device(e)}: ${e.status} — ${e.reason}`);
  section('Succeeded', r.succeeded, (e) => `${device(e)}: ${e.status}`);
  section(
    'Not heard from',
    r.notHeardFrom,
    (e) => `${device(e)}: ${e.status ?? NOT_STARTED}, last contact ${e.lastContactAt ?? 'never'}`,
  );
  const text = `${lines.join('\n')}\n`;

  const h = escapeHtml;
  const table = (title: string, l: ReportList, headers: string[], cells: (e: ReportEntry) => string[]) => {
    const rows = l.entries
      .map(
        (e) =>
          `<tr>${cells(e)
            .map((c) => `<td>${h(c)}</td>`)
            .join('')}</tr>`,
      )
      .join('');
    return (
      `<h3>${h(title)} (${l.total})</h3>` +
      (l.total === 0
        ? '<p>none</p>'
        : `<table border="1" cellpadding="4" cellspacing="0"><tr>${headers.map((x) => `<th>${h(x)}</th>`).join('')}</tr>${rows}</table>` +
          (more(l) > 0 ? `<p>… and ${more(l)} more</p>` : ''))
    );
  };
  const html =
    `<html><body><h2>Rollout of ${h(what)} ${h(verb)}</h2>` +
    `<p>Rollout <code>${h(r.rolloutId)}</code></p>` +
    (r.reportUrl
      ? `<p><a href="${h(r.reportUrl)}">The report</a> · <a href="${h(r.reportUrl.replace(/\/report$/, '/installations.csv'))}">every job as CSV</a></p>`
      : '') +
    '<table border="1" cellpadding="4" cellspacing="0">' +
    `<tr><th>Devices</th><td>${r.total}</td></tr>` +
    `<tr><th>Succeeded</th><td>${r.succeeded.total}</td></tr>` +
    `<tr><th>Failed</th><td>${r.failed.total}</td></tr>` +
    (r.cancelled > 0 ? `<tr><th>Cancelled</th><td>${r.cancelled}</td></tr>` : '') +
    (r.notFinal > 0 ? `<tr><th>Not final</th><td>${r.notFinal}</td></tr>` : '') +
    `<tr><th>Not heard from</th><td>${r.notHeardFrom.total}</td></tr></table>` +
    '<h3>Counts per status</h3><table border="1" cellpadding="4" cellspacing="0"><tr><th>Status</th><th>Jobs</th></tr>' +
    sortedCounts(r.counts)
      .map(([s, n]) => `<tr><td>${h(s)}</td><td>${n}</td></tr>`)
      .join('') +
    '</table>' +
    table('Failures', r.failed, ['Device', 'Status', 'Reason'], (e) => [device(e), e.status ?? '', e.reason ?? '']) +
    table('Succeeded', r.succeeded, ['Device', 'Status'], (e) => [device(e), e.status ?? '']) +
    table('Not heard from', r.notHeardFrom, ['Device', 'Status', 'Last contact'], (e) => [
      device(e),
      e.status ?? NOT_STARTED,
      e.lastContactAt ?? 'never',
    ]) +
    '</body></html>';
  return { subject, text, html };
}

/** The early alert (P3): failures reached the threshold while the rollout runs. */
export function renderFailureAlert(r: RolloutReport, threshold: number): RenderedMail {
  const what = `${r.software.name} ${r.software.version}`;
  const subject = `DeviceRollout: ${r.failed.total} failures in the rollout of ${what} (threshold ${threshold})`;
  const lines = [
    `The rollout ${r.rolloutId} of ${what} has ${r.failed.total} failed installations (alert threshold ${threshold}).`,
    'It keeps running; pause or cancel it through the API if needed.',
    '',
    `Failures (${r.failed.total}):`,
    ...r.failed.entries.map((e) => `  - ${device(e)}: ${e.status} — ${e.reason}`),
    ...(more(r.failed) > 0 ? [`  … and ${more(r.failed)} more`] : []),
  ];
  const h = escapeHtml;
  const html =
    `<html><body><h2>${h(String(r.failed.total))} failures in the rollout of ${h(what)}</h2>` +
    `<p>Rollout <code>${h(r.rolloutId)}</code> reached the alert threshold of ${threshold} failures. It keeps running.</p>` +
    '<table border="1" cellpadding="4" cellspacing="0"><tr><th>Device</th><th>Status</th><th>Reason</th></tr>' +
    r.failed.entries
      .map((e) => `<tr><td>${h(device(e))}</td><td>${h(e.status ?? '')}</td><td>${h(e.reason ?? '')}</td></tr>`)
      .join('') +
    '</table>' +
    (more(r.failed) > 0 ? `<p>… and ${more(r.failed)} more</p>` : '') +
    '</body></html>';
  return { subject, text: `${lines.join('\n')}\n`, html };
}
