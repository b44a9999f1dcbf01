/**
 * domain/report.ts (P1, P3): classification, bounded lists with exact totals, rendering of the summary
 * and the alert (text and HTML carry the same facts; HTML is escaped).
 */
import { describe, expect, it } from 'vitest';
import {
  buildReport,
  escapeHtml,
  failureReason,
  NOT_STARTED,
  notHeardFrom,
  ReportBuilder,
  type ReportJob,
  renderFailureAlert,
  renderSummary,
} from '../../domain/report';
import { STATUS } from '../../domain/status';

const meta = { rolloutId: 'r-1', software: { name: 'DME Client', version: '4.2' }, outcome: 'completed' as const };
const T0 = '2026-05-04T09:00:00.000Z';
const later = '2026-05-04T10:00:00.000Z';
const earlier = '2026-05-03T10:00:00.000Z';

function job(i: number, over: Partial<ReportJob> = {}): ReportJob {
  return {
    deviceId: `dev-${i}`,
    externalId: `imei-${i}`,
    platform: 'symbian',
    status: STATUS.downloadedVerified,
    final: true,
    startedAt: T0,
    lastContactAt: later,
    ...over,
  };
}

describe('classification', () => {
  it('success: every final success status, Not needed included', () => {
    const r = buildReport(meta, [
      job(1, { status: STATUS.installed }),
      job(2, { status: STATUS.installedVerified }),
      job(3, { status: STATUS.downloaded }),
      job(4, { status: STATUS.downloadedVerified }),
      job(5, { status: STATUS.notNeeded }),
    ]);
    expect(r.succeeded.total).toBe(5);
    expect(r.failed.total).toBe(0);
    expect(r.notFinal).toBe(0);
  });

  it('failure: Installation failed and Unknown status, with the reason (detail › last log message › status)', () => {
    const r = buildReport(meta, [
      job(1, { status: STATUS.installationFailed, detail: 'bootstrap timed out; SMS push expired' }),
      job(2, { status: STATUS.installationFailed, detail: '  ', lastMessage: 'the device reported: exit 1603' }),
      job(3, { status: STATUS.unknownStatus }),
    ]);
    expect(r.failed.entries.map((e) => e.reason)).toEqual([
      'bootstrap timed out; SMS push expired',
      'the device reported: exit 1603',
      STATUS.unknownStatus,
    ]);
    expect(failureReason(job(9, { status: null }))).toBe('unknown');
  });

  it('cancelled jobs are neither success nor failure; open and never-started jobs are "not final"', () => {
    const r = buildReport(meta, [
      job(1, { status: STATUS.cancelled }),
      job(2, { status: STATUS.waitingForDownload, final: false }),
      job(3, { status: null, final: false, startedAt: null }),
    ]);
    expect(r).toMatchObject({ cancelled: 1, notFinal: 2, succeeded: { total: 0 }, failed: { total: 0 } });
    expect(r.counts).toEqual({ [STATUS.cancelled]: 1, [STATUS.waitingForDownload]: 1, [NOT_STARTED]: 1 });
  });

  it('a success status on a job not marked final is not counted as a success', () => {
    const r = buildReport(meta, [job(1, { status: STATUS.downloaded, final: false })]);
    expect(r.succeeded.total).toBe(0);
    expect(r.notFinal).toBe(1);
  });

  it('not heard from: started, and no contact since the start (never, or only before) — whatever the status', () => {
    expect(notHeardFrom(job(1, { lastContactAt: null }))).toBe(true);
    expect(notHeardFrom(job(1, { lastContactAt: earlier }))).toBe(true);
    expect(notHeardFrom(job(1, { lastContactAt: later }))).toBe(false);
    expect(notHeardFrom(job(1, { lastContactAt: T0 }))).toBe(false); // contact at the very start counts
    expect(notHeardFrom(job(1, { startedAt: null, lastContactAt: null }))).toBe(false); // never started
    expect(notHeardFrom(job(1, { startedAt: new Date(T0), lastContactAt: new Date(earlier) }))).toBe(true); // Date objects
    const r = buildReport(meta, [
      job(1, { status: STATUS.unknownStatus, lastContactAt: null }),
      job(2, { status: STATUS.downloaded, lastContactAt: earlier }),
      job(3),
    ]);
    expect(r.notHeardFrom.entries).toEqual([
      { deviceId: 'dev-1', externalId: 'imei-1', platform: 'symbian', status: STATUS.unknownStatus, lastContactAt: null },
      { deviceId: 'dev-2', externalId: 'imei-2', platform: 'symbian', status: STATUS.downloaded, lastContactAt: earlier },
    ]);
  });
});

describe('bounded lists', () => {
  it('keeps the first `listLimit` entries per list, totals exact (100,000 jobs)', () => {
    const b = new ReportBuilder(3);
    for (let i = 0; i < 100_000; i++) {
      b.add(job(i, i % 10 === 0 ? { status: STATUS.installationFailed, detail: `e${i}` } : {}));
    }
    const r = b.build(meta);
    expect(r.total).toBe(100_000);
    expect(r.succeeded.total).toBe(90_000);
    expect(r.failed.total).toBe(10_000);
    expect(r.failed.entries.map((e) => e.externalId)).toEqual(['imei-0', 'imei-10', 'imei-20']);
    expect(r.succeeded.entries).toHaveLength(3);
    expect(r.counts).toEqual({ [STATUS.downloadedVerified]: 90_000, [STATUS.installationFailed]: 10_000 });
  });

  it('listLimit 0 keeps totals only; a negative limit is refused', () => {
    const r = buildReport(meta, [job(1), job(2)], 0);
    expect(r.succeeded).toEqual({ total: 2, entries: [] });
    expect(() => new ReportBuilder(-1)).toThrow(RangeError);
  });

  it('an empty rollout reports zeros', () => {
    const r = buildReport(meta, []);
    expect(r).toMatchObject({ total: 0, counts: {}, succeeded: { total: 0 }, failed: { total: 0 }, notHeardFrom: { total: 0 } });
    expect(renderSummary(r).text).toContain('Failures (0):\n  none');
  });

  it('the built report is a copy: adding later does not change it', () => {
    const b = new ReportBuilder();
    b.add(job(1));
    const r = b.build(meta);
    b.add(job(2));
    expect(r.succeeded.total).toBe(1);
    expect(r.succeeded.entries).toHaveLength(1);
  });
});

describe('rendering', () => {
  const report = buildReport(
    meta,
    [
      job(1),
      job(2, { status: STATUS.installationFailed, detail: 'no .exe variant <R7>' }),
      job(3, { status: STATUS.unknownStatus, lastContactAt: null }),
      job(4, { status: STATUS.cancelled }),
    ],
    200,
  );

  it('summary: subject with the outcome and counts; text with counts per status, failures with reasons, successes, not heard from', () => {
    const m = renderSummary(report);
    expect(m.subject).toBe('DeviceRollout: rollout of DME Client 4.2 completed — 1 succeeded, 2 failed of 4');
    expect(m.text).toContain('Rollout r-1 of DME Client 4.2: completed.');
    expect(m.text).toContain(`  ${STATUS.downloadedVerified}: 1`);
    expect(m.text).toContain('Cancelled: 1');
    expect(m.text).toContain(
      'Failures (2):\n  - imei-2 (symbian): Installation failed — no .exe variant <R7>\n  - imei-3 (symbian): Unknown status — Unknown status',
    );
    expect(m.text).toContain(`Succeeded (1):\n  - imei-1 (symbian): ${STATUS.downloadedVerified}`);
    expect(m.text).toContain('Not heard from (1):\n  - imei-3 (symbian): Unknown status, last contact never');
  });

  it('HTML carries the same lists, escaped', () => {
    const m = renderSummary(report);
    expect(m.html).toContain('<h3>Failures (2)</h3>');
    expect(m.html).toContain('no .exe variant &lt;R7&gt;');
    expect(m.html).not.toContain('<R7>');
    expect(m.html).toContain('<h3>Not heard from (1)</h3>');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('"… and N more" when a list is cut', () => {
    const r = buildReport(
      meta,
      Array.from({ length: 5 }, (_, i) => job(i)),
      2,
    );
    const m = renderSummary(r);
    expect(m.text).toContain('  … and 3 more');
    expect(m.html).toContain('<p>… and 3 more</p>');
  });

  it('a cancelled rollout says so', () => {
    expect(renderSummary({ ...report, outcome: 'cancelled' }).subject).toContain('DME Client 4.2 cancelled');
  });

  it('failure alert: count, threshold and the failures', () => {
    const m = renderFailureAlert({ ...report, outcome: 'running' }, 2);
    expect(m.subject).toBe('DeviceRollout: 2 failures in the rollout of DME Client 4.2 (threshold 2)');
    expect(m.text).toContain('imei-2 (symbian): Installation failed — no .exe variant <R7>');
    expect(m.html).toContain('no .exe variant &lt;R7&gt;');
  });
});
