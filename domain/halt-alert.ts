/**
 * The alert mail of an automatic halt (issue 14, SPEC G2, P3): a group's failures reached the error
 * threshold, the rollout paused itself and starts nothing until an admin resumes it.
 */
import { escapeHtml, type RenderedMail, type ReportEntry, type RolloutReport } from './report';

/** What the halt was (the workflow's `HaltAlert`). */
export interface HaltFacts {
  group: number;
  name: string;
  final: number;
  failed: number;
  threshold: string;
}

const LISTED = 200;
const device = (e: ReportEntry) => `${e.externalId}${e.platform ? ` (${e.platform})` : ''}`;

export function renderHaltAlert(r: RolloutReport, halt: HaltFacts): RenderedMail {
  const what = `${r.software.name} ${r.software.version}`;
  const group = `group ${halt.group} (${halt.name})`;
  const subject = `DeviceRollout: rollout of ${what} halted — ${halt.failed} of ${halt.final} final jobs of ${group} failed`;
  const resume = `POST /api/v1/rollouts/${r.rolloutId}/resume`;
  const failures = r.failed.entries.slice(0, LISTED);
  const lines = [
    `The rollout ${r.rolloutId} of ${what} has HALTED itself (pausedReason "error-threshold"):`,
    `${halt.failed} of the ${halt.final} final jobs of ${group} failed, reaching the error threshold of ${halt.threshold}.`,
    `Nothing more starts until an admin resumes it (${resume}) or cancels it; jobs already started go on.`,
    '',
    `Failures of the rollout (${r.failed.total}):`,
    ...failures.map((e) => `  - ${device(e)}: ${e.status} — ${e.reason}`),
    ...(r.failed.total > failures.length ? [`  … and ${r.failed.total - failures.length} more`] : []),
  ];
  const h = escapeHtml;
  const html =
    `<html><body><h2>Rollout of ${h(what)} halted</h2>` +
    `<p>${h(String(halt.failed))} of the ${h(String(halt.final))} final jobs of ${h(group)} failed (error threshold ${h(halt.threshold)}). ` +
    `Nothing more starts until an admin resumes the rollout <code>${h(r.rolloutId)}</code>.</p>` +
    '<table border="1" cellpadding="4" cellspacing="0"><tr><th>Device</th><th>Status</th><th>Reason</th></tr>' +
    failures.map((e) => `<tr><td>${h(device(e))}</td><td>${h(e.status ?? '')}</td><td>${h(e.reason ?? '')}</td></tr>`).join('') +
    '</table></body></html>';
  return { subject, text: `${lines.join('\n')}\n`, html };
}
