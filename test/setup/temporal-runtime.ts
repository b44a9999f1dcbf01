// Per test process: the Temporal SDK logs only errors (expected activity retries in fault and outage
// tests are warnings; TEMPORAL_LOG_LEVEL=WARN shows them). SDK Core's warnings are forwarded to the
// same logger and shown, except the known harmless ones below, which repeat once per test worker.
import { SdkComponent } from '@temporalio/common';
import { DefaultLogger, type Logger, type LogLevel, type LogMetadata, Runtime } from '@temporalio/worker';

/** Core warnings filtered out by exact message, each with why it says nothing about the code under test. */
const HARMLESS_CORE_WARNINGS = new Set([
  // Printed at each worker start against Temporal's Java time-skipping test server, which does not
  // advertise this capability (the dev server does). It is about the server, not the workflows.
  'Temporal Server 1.16.0 or newer is required to guarantee that the latest heartbeat details are preserved when an activity fails; the server did not advertise the activity_failure_include_heartbeat capability, so heartbeat details may be lost on failure',
]);

class TestLogger implements Logger {
  private readonly sdk = new DefaultLogger((process.env.TEMPORAL_LOG_LEVEL as LogLevel) || 'ERROR');
  private readonly core = new DefaultLogger('WARN');

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (meta?.sdkComponent !== SdkComponent.core) this.sdk.log(level, message, meta);
    else if (!HARMLESS_CORE_WARNINGS.has(message)) this.core.log(level, message, meta);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

try {
  Runtime.install({
    logger: new TestLogger(),
    // Core's default filter (WARN for Core, ERROR for the rest), forwarded instead of printed by Core
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
  });
} catch {
  // already installed in this process
}
