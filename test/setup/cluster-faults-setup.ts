/**
 * Global setup of the cluster suite's `cluster-faults` project: every scenario starts its own Temporal
 * cluster (test/helpers/cluster-scenario.ts), so this only makes sure the server, its schema tool
 * and PostgreSQL's binaries exist before the first one (built once and cached by `npm run servers`).
 */
import { findPgBin } from '../../devstack/postgres';
import { ensureTemporalServer } from '../../devstack/temporal-servers';

export default async function setup() {
  findPgBin();
  await ensureTemporalServer();
}
