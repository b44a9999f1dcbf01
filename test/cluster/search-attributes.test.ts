/**
 * The cluster's visibility is SQL (PostgreSQL), not the dev server's SQLite: custom search
 * attributes live in pre-allocated columns per type, and the query language is a subset. Checks:
 *  - every custom search attribute of domain/search-attributes.ts fits SQL visibility's per-type
 *    limit (the columns of the module's visibility schema), is created on a fresh namespace with its
 *    type, and the limit is real: one more of a full type is refused;
 *  - every operator query of docs/operators.md ("List filters") runs on the cluster and finds what it
 *    promises, for a rollout started over HTTP (two workers, two API instances).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureNamespace, searchAttributeCountsByType, sqlVisibilityLimits } from '../../devstack/cluster';
import { ensureTemporalServer } from '../../devstack/temporal-servers';
import { ALL_SEARCH_ATTRIBUTES } from '../../domain/search-attributes';
import { STATUS } from '../../domain/status';
import { type Stack, startStack } from '../helpers/stack';
import { until } from '../helpers/until';

/** IndexedValueType names as listSearchAttributes answers them (enum numbers). */
const KEYWORD = 2;

describe('custom search attributes on SQL visibility', () => {
  it('every one fits the per-type limit, is created on a fresh namespace, and one more of a full type is refused', async () => {
    const { postgresSchemaDir } = await ensureTemporalServer();
    const limits = sqlVisibilityLimits(postgresSchemaDir);
    expect(limits.Keyword, 'Keyword columns of the visibility schema').toBeGreaterThan(0);
    const counts = searchAttributeCountsByType();
    for (const [type, n] of Object.entries(counts)) expect(n, `${type} search attributes`).toBeLessThanOrEqual(limits[type] ?? 0);

    const namespace = `sa-check-${randomUUID().slice(0, 8)}`;
    const address = inject('temporalAddress');
    await ensureNamespace(address, namespace);
    const conn = await Connection.connect({ address });
    try {
      const listed = await conn.operatorService.listSearchAttributes({ namespace });
      for (const k of ALL_SEARCH_ATTRIBUTES) expect(listed.customAttributes?.[k.name], k.name).toBeDefined();
      expect(Object.keys(listed.customAttributes ?? {}).sort()).toEqual(ALL_SEARCH_ATTRIBUTES.map((k) => k.name).sort());

      // fill the Keyword columns up, then one more is refused: the limit checked above is the server's
      const free = (limits.Keyword ?? 0) - (counts.Keyword ?? 0);
      const fill = Object.fromEntries(Array.from({ length: free }, (_, i) => [`FillKeyword${i}`, KEYWORD]));
      if (free > 0) await conn.operatorService.addSearchAttributes({ namespace, searchAttributes: fill });
      await expect(
        conn.operatorService.addSearchAttributes({ namespace, searchAttributes: { OneKeywordTooMany: KEYWORD } }),
      ).rejects.toThrow(new RegExp(`cannot have more than ${limits.Keyword} search attribute of type Keyword`));
    } finally {
      await conn.close();
    }
  });
});

/** The queries of docs/operators.md's "List filters" table, by question. */
function operatorQueries(): Map<string, string> {
  const doc = readFileSync(path.resolve(__dirname, '..', '..', 'docs', 'operators.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## List filters'), doc.indexOf('\n## ', doc.indexOf('## List filters') + 3));
  const queries = new Map<string, string>();
  for (const m of section.matchAll(/^\| ([^|`]+?) \| `([^`]+)` \|$/gm)) queries.set(m[1]!.trim(), m[2]!);
  return queries;
}

describe('the operator queries of docs/operators.md on the cluster', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('each runs on SQL visibility and finds the jobs and rollouts it promises', async () => {
    expect(stack.baseUrls).toHaveLength(2);
    const queries = operatorQueries();
    expect(queries.size, 'queries found in docs/operators.md').toBeGreaterThanOrEqual(9);

    // three devices, an SMS push that none of them follows: the jobs wait for their download
    const tag = randomUUID().slice(0, 8);
    const reg = await stack.api('POST', '/api/v1/devices', {
      devices: Array.from({ length: 4 }, (_, i) => ({
        externalId: `ops-${tag}-${i}`,
        platform: 'symbian',
        msisdn: `+49151${String(i).padStart(7, '0')}`,
      })),
    });
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    const devices = reg.body.devices as { id: string }[];
    const form = new FormData();
    form.set('name', `Ops Client ${tag}`);
    form.set('version', '5.2');
    form.set('kind', 'dme-client');
    form.set('platforms', 'symbian');
    form.append('file', new Blob([Buffer.alloc(4096, 1)]), 'ops.sisx');
    const sw = await fetch(`${stack.baseUrl}/api/v1/software`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminKey}` },
      body: form,
    });
    expect(sw.status).toBe(201);
    const software = (await sw.json()) as { id: string };
    const created = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: software.id,
      devices: { ids: devices.slice(0, 3).map((d) => d.id) },
      options: { useDm: false, push: 'sms', maxPushAttempts: 1 },
      schedule: {
        perDay: 'unlimited',
        weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        window: { start: '00:00', end: '24:00' },
      },
      timeouts: { ticketLifetime: '30m', verification: '30m' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const rolloutId = created.body.id as string;
    const deviceId = devices[0]!.id;

    const count = async (question: string, expected?: (n: number) => boolean) => {
      const q = queries.get(question);
      expect(q, `docs/operators.md has "${question}"`).toBeDefined();
      const query = q!.replaceAll('<rolloutId>', rolloutId).replaceAll('<deviceId>', deviceId);
      return until(
        `${question}: ${query}`,
        async () => {
          const n = (await stack.client.workflow.count(query)).count;
          return !expected || expected(n) ? n : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
    };

    expect(await count('all jobs of a rollout waiting for download', (n) => n === 3)).toBe(3);
    expect(await count('all jobs of a rollout still in progress', (n) => n === 3)).toBe(3);
    expect(await count('every job of a device', (n) => n === 1)).toBe(1);
    expect(await count('all failed jobs of a device')).toBe(0);
    expect(await count('rollouts running', (n) => n >= 1)).toBeGreaterThanOrEqual(1);
    // the others run on SQL visibility (IN, AND, the en dash in the statuses): no job here matches them
    for (const q of [
      'jobs waiting for a bootstrap confirmation',
      'jobs that fell back to WAP push',
      'DME 5.2 installs not yet verified',
    ])
      expect(await count(q)).toBeGreaterThanOrEqual(0);

    // RolloutState follows the rollout: one that starts tomorrow, paused
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const later = await stack.api('POST', '/api/v1/rollouts', {
      softwareId: software.id,
      devices: { ids: [devices[3]!.id] },
      options: { useDm: false, push: 'sms', maxPushAttempts: 1 },
      schedule: {
        perDay: 'unlimited',
        startDate: tomorrow,
        weekdays: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        window: { start: '00:00', end: '24:00' },
        timeZone: 'UTC',
      },
    });
    expect(later.status, JSON.stringify(later.body)).toBe(201);
    const laterId = later.body.id as string;
    const paused = await stack.api('POST', `/api/v1/rollouts/${laterId}/pause`);
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(queries.get('rollouts paused')).toBe('WorkflowType="rolloutWorkflow" AND RolloutState="paused"');
    await until('the paused rollout found by the paused query', async () => {
      const ids: string[] = [];
      for await (const w of stack.client.workflow.list({ query: queries.get('rollouts paused')! })) ids.push(w.workflowId);
      return ids.some((id) => id.includes(laterId)) ? true : undefined;
    });
    expect(await count('rollouts paused', (n) => n >= 1)).toBeGreaterThanOrEqual(1);
    await stack.api('POST', `/api/v1/rollouts/${laterId}/cancel`);

    // every job still waits: the statuses match the database's
    const rows = await stack.db('installations').where({ rollout_id: rolloutId }).select('status');
    expect(rows.map((r: { status: string }) => r.status)).toEqual([
      STATUS.waitingForDownload,
      STATUS.waitingForDownload,
      STATUS.waitingForDownload,
    ]);
    await stack.api('POST', `/api/v1/rollouts/${rolloutId}/cancel`);
  });
});
