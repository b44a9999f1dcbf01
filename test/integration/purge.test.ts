import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS } from '../../domain/status';
import { ensurePurgeSchedule, PURGE_SCHEDULE_ID } from '../../infra/schedules';
import { insertDevices, insertInstallations, insertRollout, insertSoftware } from '../helpers/fixtures';
import { type Stack, startStack } from '../helpers/stack';

describe('the 7-day purge of the Installed table (V3)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.client.schedule
      .getHandle(PURGE_SCHEDULE_ID)
      .delete()
      .catch(() => undefined);
    await stack?.stop();
  });

  it('creates the daily schedule idempotently', async () => {
    // the dev server is shared by the suite: start from a clean slate
    await stack.client.schedule
      .getHandle(PURGE_SCHEDULE_ID)
      .delete()
      .catch(() => undefined);
    expect(await ensurePurgeSchedule(stack.client, stack.config)).toBe('created');
    expect(await ensurePurgeSchedule(stack.client, stack.config)).toBe('updated');
    const desc = await stack.client.schedule.getHandle(PURGE_SCHEDULE_ID).describe();
    expect(desc.action.type).toBe('startWorkflow');
    expect(desc.action.workflowType).toBe('purgeInstalledJobsWorkflow');
    expect(desc.spec.calendars?.[0]?.hour).toEqual([
      { start: stack.config.purgeHourUtc, end: stack.config.purgeHourUtc, step: 1 },
    ]);
    let count = 0;
    for await (const s of stack.client.schedule.list()) if (s.scheduleId === PURGE_SCHEDULE_ID) count++;
    expect(count).toBe(1);
  });

  it('purges jobs that ended 8 days ago, keeps those of 6 days ago and their logs', async () => {
    const softwareId = await insertSoftware(stack.db);
    const rolloutId = await insertRollout(stack.db, softwareId);
    const devices = await insertDevices(stack.db, 3);
    const [old, recent, running] = await insertInstallations(stack.db, rolloutId, devices, (i) =>
      i === 2
        ? { status: STATUS.waitingForDownload, final: false }
        : {
            status: STATUS.downloadedVerified,
            final: true,
            ended_at: stack.db.raw(`now() - interval '${i === 0 ? 8 : 6} days'`),
          },
    );
    await stack
      .db('installation_log')
      .insert({ installation_id: old, event: 'status', to_status: STATUS.downloadedVerified, entry_key: 'x' });

    const result = await stack.client.workflow.execute('purgeInstalledJobsWorkflow', {
      taskQueue: stack.config.taskQueue,
      workflowId: `purge-test-${rolloutId}`,
      args: [{ retentionMs: stack.config.installedRetentionMs }],
    });
    expect(result).toEqual({ purged: 1 });
    const rows = await stack.db('installations').whereIn('id', [old!, recent!, running!]).select('id', 'purged_at');
    const purged = Object.fromEntries(rows.map((r) => [r.id, r.purged_at !== null]));
    expect(purged).toEqual({ [old!]: true, [recent!]: false, [running!]: false });
    const logs = await stack.db('installation_log').where({ installation_id: old! }).select('id');
    expect(logs).toHaveLength(1);

    // a second run finds nothing more to do
    const again = await stack.client.workflow.execute('purgeInstalledJobsWorkflow', {
      taskQueue: stack.config.taskQueue,
      workflowId: `purge-test-again-${rolloutId}`,
      args: [{ retentionMs: stack.config.installedRetentionMs }],
    });
    expect(again).toEqual({ purged: 0 });
  });
});

describe('namespace retention of closed workflows', () => {
  it('is set on the namespace and read back', async () => {
    const { namespaceRetentionMs, setNamespaceRetention } = await import('../../infra/namespace');
    const stack = await startStack({ noWorker: true });
    try {
      await setNamespaceRetention(stack.client, stack.config.temporalNamespace, 30 * 86_400_000);
      expect(await namespaceRetentionMs(stack.client, stack.config.temporalNamespace)).toBe(30 * 86_400_000);
    } finally {
      await stack.stop();
    }
  });
});
