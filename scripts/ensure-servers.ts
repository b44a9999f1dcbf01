/**
 * `npm run servers`: builds/resolves the Temporal CLI (dev server), the time-skipping test server and
 * the Temporal server with its SQL schema tool (`npm run cluster`) into the cache (tests do this too).
 */
import { ensureTemporalCli, ensureTemporalServer, ensureTestServer } from '../devstack/temporal-servers';

async function main() {
  const [cli, testServer, server] = await Promise.all([ensureTemporalCli(), ensureTestServer(), ensureTemporalServer()]);
  process.stdout.write(
    `temporal CLI:         ${JSON.stringify(cli)}\ntime-skipping server: ${JSON.stringify(testServer)}\ntemporal server:      ${JSON.stringify(server)}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
