/**
 * Signalling install workflows from the API, safely: a workflow that is already closed or was never
 * started (NOT_FOUND from the server) is not an error for a device — its report is late or early, and
 * both are harmless (D5). Any other failure (Temporal unreachable, …) is thrown as `unavailable` (its
 * `cause` the Temporal error): the OMA DM endpoint answers 503 and the device retries later; the device
 * endpoints' signals go through the outbox (services/signal-outbox.ts), whose dispatcher retries.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import { unavailable } from './errors';

export type SignalOutcome = 'sent' | 'not-found';

export interface Signaller {
  /** Signals one workflow (its current run). Resolves 'not-found' for a closed or unknown workflow. */
  signal<Args extends any[]>(workflowId: string, def: SignalDefinition<Args, string>, ...args: Args): Promise<SignalOutcome>;
}

export function temporalSignaller(client: Client): Signaller {
  return {
    async signal(workflowId, def, ...args) {
      try {
        await client.workflow.getHandle(workflowId).signal(def, ...args);
        return 'sent';
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return 'not-found';
        const e = unavailable('the workflow service is unavailable; retry later');
        e.cause = err;
        throw e;
      }
    },
  };
}

/**
 * Signals several workflows in parallel. Every one is attempted; not-found ones are ignored; if any
 * failed otherwise, the first such error is thrown after all have been attempted.
 */
export async function signalAll<Args extends any[]>(
  signaller: Signaller,
  workflowIds: readonly string[],
  def: SignalDefinition<Args, string>,
  ...args: Args
): Promise<{ sent: number; notFound: number }> {
  const results = await Promise.allSettled(workflowIds.map((id) => signaller.signal(id, def, ...args)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const outcomes = results.map((r) => (r as PromiseFulfilledResult<SignalOutcome>).value);
  return { sent: outcomes.filter((o) => o === 'sent').length, notFound: outcomes.filter((o) => o === 'not-found').length };
}
