/** `npm run servers`: builds/resolves the Temporal CLI and test server into the cache (tests do this too). */
import { ensureTemporalCli, ensureTestServer } from '../devstack/temporal-servers';

async function main() {
  const [cli, testServer] = await Promise.all([ensureTemporalCli(), ensureTestServer()]);
  process.stdout.write(`temporal CLI:         ${JSON.stringify(cli)}\ntime-skipping server: ${JSON.stringify(testServer)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
