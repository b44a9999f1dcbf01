/**
 * Global setup of the fault suite: every scenario starts its own PostgreSQL and Temporal dev server
 * (test/helpers/processes.ts), so this only makes sure both exist before the first scenario —
 * the Temporal CLI (built once and cached) and PostgreSQL's binaries — and fails loudly otherwise.
 */
import { findPgBin } from '../../devstack/postgres';
import { ensureTemporalCli } from '../../devstack/temporal-servers';

export default async function setup() {
  findPgBin();
  const exe = await ensureTemporalCli();
  if (exe.type !== 'existing-path') throw new Error('the Temporal CLI is not available (install Go, or set TEMPORAL_CLI_PATH)');
}
