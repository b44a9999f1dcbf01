/**
 * The round trip that proves the whole chain (`POST /api/v1/diagnostics/round-trip`, the smoke test):
 * a workflow on the server, an activity on a worker writing to PostgreSQL, the row read back.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Db } from '../infra/db';
import { roundTripWorkflow } from '../workflows/diagnostics';

/** How long the round trip may take before no worker is taken to be running. */
const ROUND_TRIP_TIMEOUT_MS = 20_000;

export interface RoundTrip {
  workflowId: string;
  runId: string;
  id: string;
  note?: string;
  writtenAt?: Date;
}

/** Runs the round trip; 'timeout' when no worker completed it within 20 s. */
export async function roundTrip(deps: { db: Db; temporal: Client; taskQueue: string }): Promise<RoundTrip | 'timeout'> {
  const workflowId = `diagnostics/${randomUUID()}`;
  const handle = await deps.temporal.workflow.start(roundTripWorkflow, {
    taskQueue: deps.taskQueue,
    workflowId,
    args: ['round trip'],
    workflowExecutionTimeout: '30s',
  });
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ROUND_TRIP_TIMEOUT_MS).unref());
  const result = await Promise.race([handle.result(), timeout]);
  if (result === 'timeout') return result;
  const row = await deps.db('diagnostics').where({ workflow_id: workflowId }).first();
  return { workflowId, runId: handle.firstExecutionRunId, id: result.id, note: row?.note, writtenAt: row?.written_at };
}
