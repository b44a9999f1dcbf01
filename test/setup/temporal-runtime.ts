// Per test process: the Temporal SDK logs only errors (expected activity retries in fault and outage
// tests are warnings; TEMPORAL_LOG_LEVEL=WARN shows them).
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger((process.env.TEMPORAL_LOG_LEVEL as 'ERROR') || 'ERROR') });
} catch {
  // already installed in this process
}
