/**
 * The SCOMO install job of a DM session (OMA-TS-DM-SCOMO 1.0; M1): Add ./SCOMO/Download/<pkgId> and
 * its leaves (PkgID, Name, PkgURL, …), Replace the leaves that already exist (418), Exec
 * …/Operations/DownloadInstall with a Correlator; Exec 202 is `installAccepted`, the Generic Alert
 * OperationComplete with that Correlator is `installResult`.
 */
import {
  type DmDeviceState,
  type DmEvent,
  type DmInstallJob,
  type DmSessionState,
  type OutstandingCommand,
  type OutstandingPurpose,
  PENDING_MSG_ID,
} from './session-model';
import type { ReplyBuilder } from './session-reply';
import {
  type AlertCommand,
  type DmCommand,
  type ExecCommand,
  type Item,
  type ItemCommand,
  normalizeAlertType,
  StatusCode,
  type StatusCommand,
} from './syncml';

export const SCOMO_OPERATION_COMPLETE = 'org.openmobilealliance.dm.softwarecomponent.OperationComplete';
const SCOMO_DOWNLOAD_ROOT = './SCOMO/Download';

const NODE_NAME = /^[A-Za-z0-9._~-]+$/;

/** Returns a new state with a pending SCOMO DownloadInstall job (replacing any previous job). */
export function withInstallJob(
  state: DmDeviceState,
  job: Pick<DmInstallJob, 'jobId' | 'pkgId' | 'packageUrl' | 'name' | 'description' | 'pkgType'> & { correlator?: string },
): DmDeviceState {
  if (!NODE_NAME.test(job.pkgId)) throw new Error(`pkgId "${job.pkgId}" is not a valid DM node name`);
  const install: DmInstallJob = {
    jobId: job.jobId,
    pkgId: job.pkgId,
    packageUrl: job.packageUrl,
    name: job.name,
    correlator: job.correlator ?? job.jobId,
    stage: 'pending',
  };
  if (job.description !== undefined) install.description = job.description;
  if (job.pkgType !== undefined) install.pkgType = job.pkgType;
  return { ...structuredClone(state), install };
}

/** SCOMO result codes: 1200 success, 1250–1299 success (vendor specified); anything else failed. */
export function isScomoSuccess(code: number): boolean {
  return code === 1200 || (code >= 1250 && code <= 1299);
}

/** Result code from Generic Alert data: "1200", or XML with <ResultCode>1200</ResultCode>. */
export function parseScomoResultCode(data: string | undefined): number | undefined {
  if (data === undefined) return undefined;
  const t = data.trim();
  if (/^\d+$/.test(t)) return Number.parseInt(t, 10);
  const m = /<ResultCode>\s*(\d+)\s*<\/ResultCode>/i.exec(t);
  return m ? Number.parseInt(m[1] as string, 10) : undefined;
}

/** A session that broke off with install commands in flight resumes from a safe stage. */
export function resumeInterruptedInstall(s: DmDeviceState): void {
  const job = s.install;
  if (!job) return;
  if (job.stage === 'adding' || job.stage === 'replacing') job.stage = 'pending';
  else if (job.stage === 'executing') job.stage = 'exec-pending';
}

function scomoBase(job: DmInstallJob): string {
  return `${SCOMO_DOWNLOAD_ROOT}/${job.pkgId}`;
}

function scomoLeaves(job: DmInstallJob): [leaf: string, value: string][] {
  const leaves: [string, string][] = [
    ['PkgID', job.pkgId],
    ['Name', job.name],
    ['PkgURL', job.packageUrl],
  ];
  if (job.description !== undefined) leaves.push(['Description', job.description]);
  if (job.pkgType !== undefined) leaves.push(['PkgType', job.pkgType]);
  return leaves;
}

function leafItem(job: DmInstallJob, leaf: string, value: string): Item {
  return { target: { locURI: `${scomoBase(job)}/${leaf}` }, meta: { format: 'chr', type: 'text/plain' }, data: value };
}

/** The next server commands of the install job, or [] when nothing is due. */
export function nextInstallCommands(s: DmDeviceState, ses: DmSessionState, msgId: string, rb: ReplyBuilder): DmCommand[] {
  const job = s.install;
  if (!job) return [];
  const out: DmCommand[] = [];
  const track = (c: ItemCommand | ExecCommand, purpose: OutstandingPurpose, target: string, leaf?: string) => {
    const o: OutstandingCommand = { msgId, cmdId: c.cmdId, cmd: c.cmd, purpose, target };
    if (leaf !== undefined) o.leaf = leaf;
    ses.outstanding.push(o);
    out.push(c);
  };
  const exec = () => {
    const target = `${scomoBase(job)}/Operations/DownloadInstall`;
    const c: ExecCommand = {
      cmd: 'Exec',
      cmdId: rb.nextId(),
      correlator: job.correlator,
      items: [{ target: { locURI: target } }],
    };
    track(c, 'scomo-exec', target);
    job.stage = 'executing';
  };
  switch (job.stage) {
    case 'pending': {
      const base = scomoBase(job);
      const interior: ItemCommand<'Add'> = {
        cmd: 'Add',
        cmdId: rb.nextId(),
        items: [{ target: { locURI: base }, meta: { format: 'node' } }],
      };
      track(interior, 'scomo-add', base, '');
      for (const [leaf, value] of scomoLeaves(job)) {
        const c: ItemCommand<'Add'> = { cmd: 'Add', cmdId: rb.nextId(), items: [leafItem(job, leaf, value)] };
        track(c, 'scomo-add', `${base}/${leaf}`, leaf);
      }
      job.replaceLeaves = [];
      job.stage = 'adding';
      break;
    }
    case 'adding': {
      const leaves = job.replaceLeaves ?? [];
      if (leaves.length > 0) {
        const values = new Map(scomoLeaves(job));
        for (const leaf of leaves) {
          const c: ItemCommand<'Replace'> = {
            cmd: 'Replace',
            cmdId: rb.nextId(),
            items: [leafItem(job, leaf, values.get(leaf) ?? '')],
          };
          track(c, 'scomo-replace', `${scomoBase(job)}/${leaf}`, leaf);
        }
        job.stage = 'replacing';
      } else {
        exec();
      }
      break;
    }
    case 'replacing':
    case 'exec-pending':
      exec();
      break;
    default:
      break;
  }
  return out;
}

/** The job failed (`installResult` with success=false), unless it has already ended. */
export function failInstall(
  s: DmDeviceState,
  events: DmEvent[],
  code: number,
  source: 'exec-status' | 'add-status' | 'replace-status' | 'no-status' | 'object-too-large',
): void {
  const job = s.install;
  if (!job || job.stage === 'failed' || job.stage === 'completed') return;
  job.stage = 'failed';
  job.resultCode = code;
  events.push({
    type: 'installResult',
    jobId: job.jobId,
    correlator: job.correlator,
    pkgId: job.pkgId,
    success: false,
    code,
    source,
  });
}

/**
 * The client's Status for one of the job's commands: Add 418 (already exists) queues a Replace of that
 * leaf, Exec 202 is `installAccepted`, Exec 200 a synchronous success; any other error fails the job.
 */
export function handleServerCommandStatus(s: DmDeviceState, ses: DmSessionState, st: StatusCommand, events: DmEvent[]): void {
  const i = ses.outstanding.findIndex((o) => o.msgId === st.msgRef && o.cmdId === st.cmdRef);
  if (i < 0) return; // late, duplicate or for a command we do not track (e.g. Alert 1222)
  const [o] = ses.outstanding.splice(i, 1);
  const job = s.install;
  if (!o || !job) return;
  switch (o.purpose) {
    case 'scomo-add':
      if (st.code === StatusCode.OK) return;
      if (st.code === StatusCode.ALREADY_EXISTS) {
        if (o.leaf) job.replaceLeaves = [...(job.replaceLeaves ?? []), o.leaf];
        return;
      }
      failInstall(s, events, st.code, 'add-status');
      return;
    case 'scomo-replace':
      if (st.code !== StatusCode.OK) failInstall(s, events, st.code, 'replace-status');
      return;
    case 'scomo-exec':
      if (job.stage !== 'executing') return;
      if (st.code === StatusCode.ACCEPTED_FOR_PROCESSING) {
        job.stage = 'accepted';
        events.push({ type: 'installAccepted', jobId: job.jobId, correlator: job.correlator, pkgId: job.pkgId });
      } else if (st.code === StatusCode.OK) {
        // Completed synchronously (no Generic Alert will follow).
        job.stage = 'completed';
        job.resultCode = StatusCode.OK;
        events.push({ type: 'installAccepted', jobId: job.jobId, correlator: job.correlator, pkgId: job.pkgId });
        events.push({
          type: 'installResult',
          jobId: job.jobId,
          correlator: job.correlator,
          pkgId: job.pkgId,
          success: true,
          code: StatusCode.OK,
          source: 'exec-status',
        });
      } else {
        failInstall(s, events, st.code, 'exec-status');
      }
      return;
  }
}

/** The client refused the server's credentials for message `msgRef`: nothing in it was executed. */
export function requeueRejected(s: DmDeviceState, ses: DmSessionState, msgRef: string): void {
  // The rest of that package (not sent yet) goes too: the whole package is built again.
  const isRejected = (o: OutstandingCommand) => o.msgId === msgRef || o.msgId === PENDING_MSG_ID;
  const rejected = ses.outstanding.filter(isRejected);
  if (rejected.length === 0) return;
  delete ses.pending;
  ses.outstanding = ses.outstanding.filter((o) => !isRejected(o));
  const job = s.install;
  if (!job) return;
  if (rejected.some((o) => o.purpose === 'scomo-add')) job.stage = 'pending';
  else if (rejected.some((o) => o.purpose === 'scomo-replace')) job.stage = 'adding';
  else if (rejected.some((o) => o.purpose === 'scomo-exec')) job.stage = 'exec-pending';
}

/**
 * Generic Alert 1226 items: OperationComplete of the job (matched by Correlator, else by its
 * ./SCOMO/Download/<pkgId> source) is its `installResult`; other alert types become `genericAlert`.
 */
export function handleGenericAlert(s: DmDeviceState, alert: AlertCommand, events: DmEvent[]): number {
  for (const item of alert.items) {
    const alertType = normalizeAlertType(item.meta?.type);
    const sourceUri = item.source?.locURI ?? item.target?.locURI;
    if (alertType === SCOMO_OPERATION_COMPLETE) {
      const code = parseScomoResultCode(item.data) ?? 0;
      const job = s.install;
      const pkgFromUri = sourceUri?.startsWith(`${SCOMO_DOWNLOAD_ROOT}/`)
        ? sourceUri.slice(SCOMO_DOWNLOAD_ROOT.length + 1).split('/')[0]
        : undefined;
      const matches =
        job !== undefined &&
        (alert.correlator !== undefined
          ? alert.correlator === job.correlator
          : pkgFromUri !== undefined && pkgFromUri === job.pkgId);
      const success = isScomoSuccess(code);
      if (matches && job) {
        const done = job.stage === 'completed' || job.stage === 'failed';
        if (done && job.resultCode === code) continue; // duplicate report
        job.stage = success ? 'completed' : 'failed';
        job.resultCode = code;
        events.push({
          type: 'installResult',
          jobId: job.jobId,
          correlator: job.correlator,
          pkgId: job.pkgId,
          success,
          code,
          source: 'generic-alert',
        });
      } else {
        const ev: DmEvent = { type: 'installResult', success, code, source: 'generic-alert' };
        if (alert.correlator !== undefined) ev.correlator = alert.correlator;
        if (pkgFromUri !== undefined) ev.pkgId = pkgFromUri;
        events.push(ev);
      }
    } else {
      const ev: DmEvent = { type: 'genericAlert' };
      if (alertType !== undefined) ev.alertType = alertType;
      if (alert.correlator !== undefined) ev.correlator = alert.correlator;
      if (sourceUri !== undefined) ev.sourceUri = sourceUri;
      if (item.data !== undefined) ev.data = item.data;
      events.push(ev);
    }
  }
  return StatusCode.OK;
}
