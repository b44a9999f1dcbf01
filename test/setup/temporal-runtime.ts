// Per test process: the Temporal SDK logs only warnings and errors (not every worker state change).
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger((process.env.TEMPORAL_LOG_LEVEL as 'WARN') || 'WARN') });
} catch {
  // already installed in this process
}
