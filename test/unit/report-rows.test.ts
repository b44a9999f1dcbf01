/** The rows of the rollout report and CSV (issue 14): reasons, groups, CSV encoding; the summary's link. */
import { describe, expect, it } from 'vitest';
import { buildReport, renderSummary } from '../../domain/report';
import {
  CSV_COLUMNS,
  csvField,
  csvJobLine,
  csvLine,
  groupName,
  isFailed,
  isReportList,
  isSucceeded,
  jobReason,
} from '../../domain/report-rows';
import { STATUS } from '../../domain/status';

describe('jobReason', () => {
  const failed = { status: STATUS.installationFailed, final: true };
  it('a failure: the last error of its log, else its detail, else its status', () => {
    expect(jobReason({ ...failed, detail: 'ticket expired', lastError: 'the device reported: exit 1603' })).toBe(
      'the device reported: exit 1603',
    );
    expect(jobReason({ ...failed, detail: 'ticket expired', lastError: null })).toBe('ticket expired');
    expect(jobReason({ status: STATUS.unknownStatus, final: true, detail: ' ', lastError: '' })).toBe(STATUS.unknownStatus);
  });
  it('other final jobs: their detail; successes and open jobs: none', () => {
    expect(jobReason({ status: STATUS.cancelled, final: true, detail: 'device retired', lastError: 'x' })).toBe('device retired');
    expect(jobReason({ status: STATUS.downloaded, final: true, detail: 'downloaded', lastError: null })).toBe('');
    expect(jobReason({ status: STATUS.waitingForDownload, final: false, detail: 'SMS push 1 of 3', lastError: 'x' })).toBe('');
    expect(jobReason({ status: null, final: false, detail: null, lastError: null })).toBe('');
  });
  it('lists: success and failure only when final', () => {
    expect(isSucceeded(STATUS.installedVerified, true)).toBe(true);
    expect(isSucceeded(STATUS.installedVerified, false)).toBe(false);
    expect(isFailed(STATUS.unknownStatus, true)).toBe(true);
    expect(isFailed(STATUS.cancelled, true)).toBe(false);
    expect(isReportList('not-heard-from')).toBe(true);
    expect(isReportList('all')).toBe(false);
  });
});

it("groupName: the name of the job's group; `all` without groups", () => {
  const groups = [
    { name: 'canary', from: 0, size: 2 },
    { name: 'rest', from: 2, size: 3 },
  ];
  expect([0, 1, 2].map((i) => groupName(groups, i))).toEqual(['canary', 'rest', '']);
  expect(groupName(undefined, 0)).toBe('all');
  expect(groupName([], null)).toBe('all');
});

describe('CSV', () => {
  it('quotes fields with commas, quotes and line breaks; defuses spreadsheet formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField('-1')).toBe("'-1");
    expect(csvField(null)).toBe('');
    expect(csvLine(CSV_COLUMNS)).toBe('device external id,platform,group,status,started,ended,reason\r\n');
  });
  it('a job: times in ISO 8601 UTC, empty when absent', () => {
    expect(
      csvJobLine({
        externalId: 'imei-1',
        platform: 'android',
        group: 'canary',
        status: STATUS.installationFailed,
        startedAt: new Date('2026-12-01T09:00:00Z'),
        endedAt: null,
        reason: 'ticket expired: no download, after 3 pushes',
      }),
    ).toBe(
      'imei-1,android,canary,Installation failed,2026-12-01T09:00:00.000Z,,"ticket expired: no download, after 3 pushes"\r\n',
    );
  });
});

it('the summary mail links to the report and the CSV when it knows where', () => {
  const report = buildReport({ rolloutId: 'r1', software: { name: 'App', version: '1' }, outcome: 'completed' }, []);
  const url = 'https://rollout.example.com/api/v1/rollouts/r1/report';
  const m = renderSummary({ ...report, reportUrl: url });
  expect(m.text).toContain(`Report: ${url}\nEvery job as CSV: https://rollout.example.com/api/v1/rollouts/r1/installations.csv`);
  expect(m.html).toContain(`<a href="${url}">The report</a>`);
  expect(renderSummary(report).text).not.toContain('Report:');
});
