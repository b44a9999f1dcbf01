/**
 * The install workflow's activities and their options. Database work (load, transition, revoke) is
 * retried until it succeeds; since the `install-local-db-activities` patch it runs as local
 * activities (docs/performance.md), executions from before keep regular ones. Gateway calls (push,
 * DM engine) have bounded retries, then the workflow falls back or fails (R3).
 */
import {
  ActivityFailure,
  type ActivityOptions,
  ApplicationFailure,
  CancellationScope,
  type LocalActivityOptions,
  proxyActivities,
  proxyLocalActivities,
  TimeoutFailure,
} from '@temporalio/workflow';
import type { InstallActivities } from '../../activities/install';

/** Database writes and reads: retried until they succeed (the database may be down for a while). */
const DB_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
};
const db = proxyActivities<InstallActivities>(DB_OPTIONS);

/**
 * The same database work as local activities: run by the worker that runs the workflow task, recorded
 * as one marker event, no activity task through the server and no extra workflow task. Right for it:
 * short, idempotent PostgreSQL statements. Retried the same way (locally, then with server timers).
 */
const LOCAL_DB_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: DB_OPTIONS.startToCloseTimeout,
  retry: DB_OPTIONS.retry,
};
const localDb = proxyLocalActivities<InstallActivities>(LOCAL_DB_OPTIONS);

/** Gateway calls (push, DM engine): a bounded number of retries, then the workflow reacts (fallback / failure). */
const GATEWAY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 8 },
};
const gateways = proxyActivities<InstallActivities>(GATEWAY_OPTIONS);

type Name = keyof InstallActivities;
type Args<K extends Name> = Parameters<InstallActivities[K]>;
type Result<K extends Name> = Awaited<ReturnType<InstallActivities[K]>>;
/** One activity, local or regular (the proxies' mapped types do not resolve for a generic name). */
type Call<K extends Name> = {
  executeWithOptions(options: ActivityOptions & LocalActivityOptions, args: Args<K>): Promise<Result<K>>;
};

/** Activity summaries make the event history in the Temporal UI read like the installation log. */
const summarized = <O extends ActivityOptions | LocalActivityOptions>(options: O, summary: string): O => ({
  ...options,
  summary,
});

/**
 * Activities that write (job row, tickets, messages, DM commands) run to their end even when the job is
 * cancelled meanwhile: the cancellation takes effect at the next wait. So a write can never land after
 * the cleanup's `Cancelled` row, and no ticket is minted after the cleanup revoked them.
 */
export type Atomic = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * One execution's `Atomic`: a single non-cancellable scope, made at the start and run for each write.
 * A new scope per write (`CancellationScope.nonCancellable`) costs three promises more each time, and
 * the SDK's promise hook captures a source-mapped stack for every promise (docs/performance.md, round 5).
 */
export function atomicScope(): Atomic {
  const scope = new CancellationScope({ cancellable: false });
  return (fn) => scope.run(fn);
}

type DbActivity = 'loadInstallContext' | 'recordInstallTransition' | 'revokePushTickets';
export type DbCall = <K extends DbActivity>(name: K, summary: string, args: Args<K>) => Promise<Result<K>>;

/** The database activities of one execution: local ones since the patch, regular ones before it. */
export function databaseActivities(local: boolean): DbCall {
  return (name, summary, args) =>
    local
      ? (localDb[name] as unknown as Call<typeof name>).executeWithOptions(summarized(LOCAL_DB_OPTIONS, summary), args)
      : (db[name] as unknown as Call<typeof name>).executeWithOptions(summarized(DB_OPTIONS, summary), args);
}

type GatewayActivity = 'dmBootstrap' | 'dmInstall' | 'pushDownloadLink';

/** A gateway call (push, DM engine): bounded retries, never cut short by a cancellation (`atomic`). */
export function gateway<K extends GatewayActivity>(atomic: Atomic, name: K, summary: string, args: Args<K>): Promise<Result<K>> {
  return atomic(() => (gateways[name] as unknown as Call<K>).executeWithOptions(summarized(GATEWAY_OPTIONS, summary), args));
}

/** The push send timeout of executions whose input has none (PUSH_SEND_TIMEOUT's default). */
export const DEFAULT_PUSH_SEND_MS = 24 * 3_600_000;

/**
 * One send attempt of a push (since the `install-push-send-timeout` patch): a single activity attempt,
 * never cut short by a cancellation (`atomic`); the workflow retries it (`push-phase.ts`) with capped
 * backoff, its timers being where a cancellation takes effect. Its own proxy: a call's options are
 * merged into the proxy's, and the gateways' retry policy would stay.
 */
export function pushOnce(
  atomic: Atomic,
  summary: string,
  input: Args<'pushDownloadLink'>[0],
): Promise<Result<'pushDownloadLink'>> {
  return atomic(() =>
    (onePush.pushDownloadLink as unknown as Call<'pushDownloadLink'>).executeWithOptions(summarized(ONE_PUSH_OPTIONS, summary), [
      input,
    ]),
  );
}

const ONE_PUSH_OPTIONS: ActivityOptions = {
  startToCloseTimeout: GATEWAY_OPTIONS.startToCloseTimeout,
  retry: { maximumAttempts: 1 },
};
const onePush = proxyActivities<InstallActivities>(ONE_PUSH_OPTIONS);

/** A send attempt failed in a way another attempt may fix (not a rejection: `PushRejectedError`, no MSISDN …). */
export function retryableSendFailure(err: unknown): boolean {
  if (!(err instanceof ActivityFailure)) return false;
  const cause = err.cause;
  return cause instanceof TimeoutFailure || !(cause instanceof ApplicationFailure && cause.nonRetryable);
}
