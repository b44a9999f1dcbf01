/**
 * Workflow tests on Temporal's time-skipping test server (real server, Java, cached by
 * devstack/temporal-servers.ts). Each test file gets its own server; activities may be doubles here.
 * Its client gives every query a deadline and asks again when it passes (`queryWithDeadline`).
 */
import { randomUUID } from 'node:crypto';
import type { Connection, WorkflowClientInterceptor } from '@temporalio/client';
import { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { inject } from 'vitest';
import { ALL_SEARCH_ATTRIBUTES } from '../../domain/search-attributes';

export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  // the client's interceptors are made before its connection exists
  let connection: Connection | undefined;
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: inject('testServerPath') } },
    client: { interceptors: { workflow: [queryWithDeadline(() => connection)] } },
  });
  connection = env.connection;
  await registerSearchAttributes(env);
  return env;
}

const QUERY_ATTEMPT_MS = 10_000;
const QUERY_ATTEMPTS = 6;

/**
 * A query that reaches the test server while a workflow task is in flight waits for that run's next
 * workflow task; when the task in flight continues the run as new there is none, and the server gives
 * the query up only at the request's deadline — the SDK's client sets none, so the test hung
 * (test/workflow/test-server.test.ts). Each attempt gets a deadline; one that passes is asked again,
 * and reaches the workflow's current run.
 */
function queryWithDeadline(connectionOf: () => Connection | undefined): WorkflowClientInterceptor {
  return {
    async query(input, next) {
      const connection = connectionOf();
      if (!connection) return next(input);
      for (let attempt = 1; ; attempt++) {
        try {
          return await connection.withDeadline(Date.now() + QUERY_ATTEMPT_MS, () => next(input));
        } catch (err) {
          if (attempt >= QUERY_ATTEMPTS || !deadlineExceeded(err)) throw err;
          console.warn(
            `query ${input.queryType} of ${input.workflowExecution.workflowId}: no answer in ${QUERY_ATTEMPT_MS} ms, asked again`,
          );
        }
      }
    },
  };
}

function deadlineExceeded(err: unknown): boolean {
  const code = (e: unknown) => (e && typeof e === 'object' ? (e as { code?: unknown }).code : undefined);
  return code(err) === DEADLINE_EXCEEDED || code((err as { cause?: unknown } | undefined)?.cause) === DEADLINE_EXCEEDED;
}
const DEADLINE_EXCEEDED = 4; // gRPC status code

/**
 * The Java time-skipping test server rejects unknown custom search attributes (the workflow task fails
 * with "search attribute RolloutId is not defined") and has no startup flag for them, but it implements
 * OperatorService.AddSearchAttributes (its TestOperatorService): register ours there, like the dev
 * server's `--search-attribute` flags do.
 */
async function registerSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  const searchAttributes: Record<string, temporal.api.enums.v1.IndexedValueType> = {};
  for (const key of ALL_SEARCH_ATTRIBUTES) {
    searchAttributes[key.name] = INDEXED_VALUE_TYPES[key.type];
  }
  await env.connection.operatorService.addSearchAttributes({ namespace: env.namespace ?? 'default', searchAttributes });
}

const INDEXED_VALUE_TYPES: Record<SearchAttributeType, temporal.api.enums.v1.IndexedValueType> = {
  [SearchAttributeType.TEXT]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  [SearchAttributeType.KEYWORD]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.INT]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  [SearchAttributeType.DOUBLE]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  [SearchAttributeType.BOOL]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  [SearchAttributeType.DATETIME]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  [SearchAttributeType.KEYWORD_LIST]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

export async function createTestWorker(
  env: TestWorkflowEnvironment,
  activities: WorkerOptions['activities'],
  taskQueue = `wf-${randomUUID()}`,
): Promise<{ worker: Worker; taskQueue: string }> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    activities,
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
  return { worker, taskQueue };
}
