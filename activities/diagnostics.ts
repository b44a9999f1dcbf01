import type { ActivityDeps } from './deps';

export function createDiagnosticsActivities({ db }: Pick<ActivityDeps, 'db'>) {
  return {
    /** Idempotent: a retry of the same workflow's write returns the row already written. */
    async recordDiagnostic(input: { workflowId: string; note: string }): Promise<{ id: string }> {
      const [row] = await db('diagnostics')
        .insert({ workflow_id: input.workflowId, note: input.note })
        .onConflict('workflow_id')
        .merge({ workflow_id: input.workflowId })
        .returning('id');
      return { id: String(row.id) };
    },
  };
}
