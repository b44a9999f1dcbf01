/**
 * The rows of a rollout's report and CSV (SPEC P1, issue 14) — pure: which list a job belongs to, the
 * reason shown for it, its group, and the CSV encoding (RFC 4180: comma, CRLF, fields with a comma, a
 * quote or a line break quoted, quotes doubled; a leading `=`, `+`, `-`, `@` is prefixed with `'` so a
 * spreadsheet never runs a device's text as a formula).
 */
import { FAILURE_STATUSES, type InstallStatus, SUCCESS_STATUSES } from './status';

/** The lists of `GET /rollouts/:id/report` (`list=`). */
export const REPORT_LISTS = ['succeeded', 'failed', 'not-heard-from'] as const;
export type ReportListName = (typeof REPORT_LISTS)[number];
export const isReportList = (s: unknown): s is ReportListName => (REPORT_LISTS as readonly unknown[]).includes(s);

export const isSucceeded = (status: string | null, final: boolean) =>
  final && !!status && SUCCESS_STATUSES.has(status as InstallStatus);
export const isFailed = (status: string | null, final: boolean) =>
  final && !!status && FAILURE_STATUSES.has(status as InstallStatus);

/** What the reason of a job is made of (from its row and its log). */
export interface ReasonFacts {
  status: string | null;
  final: boolean;
  detail: string | null;
  /** The message of the last `error` entry of the job's log. */
  lastError: string | null;
}

/**
 * The reason a report gives: for a failure the last error of its log (else its detail, else its
 * status); for other final jobs (Not needed, Cancelled, …) their detail; none while a job is open.
 */
export function jobReason(f: ReasonFacts): string {
  if (isFailed(f.status, f.final)) return f.lastError?.trim() || f.detail?.trim() || (f.status as string);
  if (f.final && !isSucceeded(f.status, f.final)) return f.detail?.trim() ?? '';
  return '';
}

/** A group as the rollout stores it (`rollouts.groups`): its name and the jobs with seq in [from, from + size). */
export interface SeqGroup {
  name: string;
  from: number;
  size: number;
}

/** The group of a rollout without groups (as the preview and `GET /rollouts/:id` name it). */
const ONE_GROUP = 'all';

/** The name of a job's group from its `group_index`: `all` for a rollout without groups. */
export function groupName(groups: readonly SeqGroup[] | undefined, index: number | null | undefined): string {
  if (!groups || groups.length === 0) return ONE_GROUP;
  return groups[index ?? 0]?.name ?? '';
}

export const CSV_COLUMNS = ['device external id', 'platform', 'group', 'status', 'started', 'ended', 'reason'] as const;

/** One CSV field. */
export function csvField(v: string | null | undefined): string {
  let s = v ?? '';
  if (/^[=+\-@]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** One CSV record with its CRLF. */
export const csvLine = (fields: readonly (string | null | undefined)[]): string => `${fields.map(csvField).join(',')}\r\n`;

export interface CsvJob {
  externalId: string;
  platform: string;
  group: string;
  status: string | null;
  startedAt: Date | null;
  endedAt: Date | null;
  reason: string;
}

/** A job as a CSV record (times ISO 8601 UTC; a job never started has an empty status). */
export const csvJobLine = (j: CsvJob): string =>
  csvLine([
    j.externalId,
    j.platform,
    j.group,
    j.status ?? '',
    j.startedAt ? j.startedAt.toISOString() : '',
    j.endedAt ? j.endedAt.toISOString() : '',
    j.reason,
  ]);
