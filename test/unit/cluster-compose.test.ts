/**
 * docker-compose.yml stays the documented production recipe; `npm run cluster` (devstack/cluster.ts)
 * is the same engine run for real. This keeps the two in step: the server release docker-compose's
 * images carry is the one the cluster builds, and both register the same custom search attributes
 * with the same types (the cluster: ALL_SEARCH_ATTRIBUTES, by devstack/cluster.ts ensureNamespace).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { searchAttributeCountsByType } from '../../devstack/cluster';
import { TEMPORAL_SERVER_VERSION } from '../../devstack/temporal-servers';
import { ALL_SEARCH_ATTRIBUTES } from '../../domain/search-attributes';

const root = path.resolve(__dirname, '..', '..');
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true });
const services = compose.services as Record<string, { image?: string; command?: unknown }>;

describe('docker-compose.yml and npm run cluster', () => {
  it('run the same Temporal server release', () => {
    const release = TEMPORAL_SERVER_VERSION.replace(/^v/, '');
    expect(services.temporal?.image).toBe(`temporalio/auto-setup:${release}`);
    expect(services['temporal-setup']?.image).toMatch(new RegExp(`^temporalio/admin-tools:${release.replace(/\./g, '\\.')}-`));
  });

  it('register the same custom search attributes, with the same types', () => {
    const script = String(services['temporal-setup']?.command);
    const loop = /for sa in ([^;]+);/.exec(script);
    expect(loop, 'the search-attribute loop of temporal-setup').not.toBeNull();
    const names = loop![1]!.trim().split(/\s+/);
    expect([...names].sort()).toEqual(ALL_SEARCH_ATTRIBUTES.map((k) => k.name).sort());
    // the loop creates them all as Keyword: so must the cluster
    const types = [...script.matchAll(/--type (\w+)/g)].map((m) => m[1]);
    expect(new Set(types)).toEqual(new Set(['Keyword']));
    expect(searchAttributeCountsByType()).toEqual({ Keyword: ALL_SEARCH_ATTRIBUTES.length });
  });
});
