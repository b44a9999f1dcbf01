/**
 * The install job from its facts to a final status: the version decision (R8), the file for the
 * platform (R7), then the DM path when asked for, applicable and configured (R1–R3), else or after
 * its fallback the push path (R4–R6). Ends by throwing `Finished`.
 */
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { upsertSearchAttributes } from '@temporalio/workflow';
import type { InstallContext } from '../../activities/install';
import { chooseFile, dmApplicability, effectivePushMethod } from '../../domain/install-options';
import * as SA from '../../domain/search-attributes';
import { type InstallStatus, isInstallStatus, STATUS } from '../../domain/status';
import { decideVersion } from '../../domain/version';
import type { PushMethod } from '../messages';
import { dmPhase } from './dm-phase';
import { METHOD_NAMES } from './format';
import { pushPhase } from './push-phase';
import type { InstallJob } from './state';

export async function runInstall(job: InstallJob): Promise<never> {
  const { input, local } = job;
  const { options } = input;
  const ids: SearchAttributeUpdatePair[] = [
    { key: SA.RolloutId, value: input.rolloutId },
    { key: SA.DeviceId, value: input.deviceId },
  ];
  // The rollout sets the ids when it starts the job; since the patch they are only repeated with the
  // first status (for jobs started otherwise), in one upsert with the software.
  if (!local) upsertSearchAttributes(ids);
  job.refreshDetails();
  const ctx = await job.load();
  if (job.patches.endsWhenFinal && ctx.installation.final && isInstallStatus(ctx.installation.status)) {
    // Ended before its install ran (the device was retired): nothing is sent, the status stands.
    job.endedBeforeStart(ctx.installation.status);
  }
  const { device, software } = ctx;
  const softwareAttributes: SearchAttributeUpdatePair[] = [
    { key: SA.SoftwareName, value: software.name },
    { key: SA.SoftwareVersion, value: software.version },
  ];
  if (local) job.upsertWithNextTransition([...ids, ...softwareAttributes]);
  else upsertSearchAttributes(softwareAttributes);

  const pushMethod = effectivePushMethod(software, options.push);
  const dmOk = options.useDm ? dmApplicability(software, device.platform) : undefined;
  const wouldUseDm = !!dmOk?.ok && ctx.dmConfigured;

  const decided = decideByVersion(job, ctx, wouldUseDm ? 'dm' : pushMethod);
  if (decided) return job.finish(decided.status, decided.reason);

  const file = chooseFile(software, device.platform);
  if (!file.ok) {
    job.note('error', `no file for this device: ${file.reason}`);
    return job.finish(STATUS.installationFailed, file.reason);
  }
  job.chooseFile(file.fileId);
  if (file.note) job.note('info', file.note);
  if (pushMethod !== options.push)
    job.note('info', `in-house iOS app: always SMS push with a manifest link (R6), not ${METHOD_NAMES[options.push]}`);

  const delivery = { device, software, fileId: file.fileId };
  if (options.useDm) {
    let fallback: string;
    if (!dmOk?.ok) fallback = `Use DM does not apply: ${dmOk?.reason}`;
    else if (!ctx.dmConfigured) fallback = 'no OMA DM engine is configured';
    else {
      fallback = await dmPhase(job, delivery);
      job.reports.forgetDownload();
    }
    job.note('fallback', `${fallback}: falling back to ${METHOD_NAMES[pushMethod]}`);
    // the DM package link is of no use any more (since the patch: a late DM success still counts)
    if (job.patches.arrivalEndsAnyPhase && job.ticketsIssued) await job.revokeTickets('the OMA DM package link revoked');
  }
  return pushPhase(job, delivery, pushMethod);
}

/**
 * R8: logs the decision; a newer version on the device ends the job (Not needed), the same version of
 * a DME client too (… – Verified at once, by the method the job would have used): the final status
 * returned. Not async: a job that goes on costs no promises here.
 */
function decideByVersion(
  job: InstallJob,
  { device, software }: InstallContext,
  method: 'dm' | PushMethod,
): { status: InstallStatus; reason: string } | undefined {
  const decision = decideVersion(device.installed, software);
  switch (decision.action) {
    case 'install':
      job.note('info', `version decision: install (the device reports no ${software.name})`);
      break;
    case 'upgrade':
      job.note('info', `version decision: upgrade from ${decision.installedVersion} to ${software.version}`);
      break;
    case 'reconfigure':
      job.note(
        'info',
        `version decision: reconfigure (the device already reports ${software.name} ${decision.installedVersion})`,
      );
      break;
    case 'newer':
      job.note(
        'info',
        `version decision: no action (the device reports ${decision.installedVersion}, newer than ${software.version})`,
      );
      return {
        status: STATUS.notNeeded,
        reason: `the device already has ${software.name} ${decision.installedVersion}, newer than ${software.version}`,
      };
  }
  if (decision.action === 'reconfigure' && software.kind === 'dme-client') {
    job.state.method = method;
    return {
      status: method === 'dm' ? STATUS.installedVerified : STATUS.downloadedVerified,
      reason: `verified at once: the device already reports version ${decision.installedVersion}`,
    };
  }
  return undefined;
}
