/** Rows inserted straight into the database, for tests that need jobs without running installs. */
import { randomUUID } from 'node:crypto';
import type { Db } from '../../infra/db';

export async function insertSoftware(db: Db, over: Record<string, unknown> = {}): Promise<string> {
  const [row] = await db('software')
    .insert({
      name: 'DME Client',
      version: `5.${Math.floor(Math.random() * 1e6)}`,
      kind: 'dme-client',
      platforms: ['symbian'],
      ...over,
    })
    .returning('id');
  return row.id;
}

export async function insertDevices(db: Db, count: number, over: Record<string, unknown> = {}): Promise<string[]> {
  const rows = Array.from({ length: count }, () => ({
    external_id: `imei-${randomUUID()}`,
    platform: 'symbian',
    msisdn: '+4915100000000',
    token_hash: randomUUID(),
    ...over,
  }));
  const inserted = await db('devices').insert(rows).returning('id');
  return inserted.map((r: { id: string }) => r.id);
}

export async function insertRollout(db: Db, softwareId: string, over: Record<string, unknown> = {}): Promise<string> {
  const [row] = await db('rollouts')
    .insert({
      software_id: softwareId,
      options: { useDm: false, push: 'sms' },
      schedule: { perDay: 'unlimited' },
      state: 'running',
      ...over,
    })
    .returning('id');
  return row.id;
}

/** Jobs of one rollout; `ended` are ISO instants or SQL expressions via db.raw for final jobs. */
export async function insertInstallations(
  db: Db,
  rolloutId: string,
  deviceIds: string[],
  each: (i: number) => Record<string, unknown> = () => ({}),
): Promise<string[]> {
  const rows = deviceIds.map((deviceId, seq) => ({ rollout_id: rolloutId, device_id: deviceId, seq, ...each(seq) }));
  const inserted = await db('installations').insert(rows).returning('id');
  return inserted.map((r: { id: string }) => r.id);
}
