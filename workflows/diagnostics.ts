import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { recordDiagnostic } = proxyActivities<Activities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 5 },
});

/**
 * The round trip behind `POST /api/v1/diagnostics/round-trip` and the smoke test:
 * API → workflow on the server → worker runs an activity that writes to Postgres → API reads it back.
 */
export async function roundTripWorkflow(note: string): Promise<{ id: string }> {
  return recordDiagnostic({ workflowId: workflowInfo().workflowId, note });
}
