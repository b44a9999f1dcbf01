import type { Client } from '@temporalio/client';
import { msToTs, optionalTsToMs } from '@temporalio/common/lib/time';

/**
 * Temporal's retention of closed workflows (how long their histories stay in the UI) is a namespace
 * setting. Applied at start-up when NAMESPACE_RETENTION is set (npm start sets 30d on its embedded
 * dev server). Installation logs live in PostgreSQL, independent of it.
 */
export async function setNamespaceRetention(client: Client, namespace: string, retentionMs: number): Promise<void> {
  await client.workflowService.updateNamespace({
    namespace,
    config: { workflowExecutionRetentionTtl: msToTs(retentionMs) },
  });
}

export async function namespaceRetentionMs(client: Client, namespace: string): Promise<number> {
  const res = await client.workflowService.describeNamespace({ namespace });
  return optionalTsToMs(res.config?.workflowExecutionRetentionTtl) ?? 0;
}
