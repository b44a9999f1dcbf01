/**
 * Global setup of the integration suite: one throwaway PostgreSQL cluster (temp dir, random port)
 * unless DATABASE_URL is given, a migrated template database that each test file clones, one
 * Temporal dev server (the CLI, built once and cached), and one workflow bundle. All stopped after.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startDevServer } from '../../devstack/dev-server';
import { startPostgres } from '../../devstack/postgres';
import { createDb, migrate } from '../../infra/db';
import { buildWorkflowBundle } from '../../worker/worker';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    /** Admin URL of the cluster (database `postgres`). */
    postgresAdminUrl: string;
    /** Migrated template database to clone per test file. */
    templateDatabase: string;
    workflowBundlePath: string;
    integrationTmpDir: string;
  }
}

export default async function setup(project: TestProject) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dr-it-'));
  await fs.chmod(dir, 0o755);
  const stops: Array<() => Promise<void>> = [];
  try {
    let adminUrl = process.env.DATABASE_URL;
    if (!adminUrl) {
      const cluster = await startPostgres({ dataDir: path.join(dir, 'pg'), database: 'postgres' });
      stops.push(cluster.stop);
      adminUrl = cluster.url;
    }
    const template = await createTemplateDatabase(adminUrl);
    stops.push(async () => {
      const d = new pg.Client({ connectionString: adminUrl });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${template}`).catch(() => undefined);
      await d.end();
    });

    const [dev, bundle] = await Promise.all([startDevServer({ logFile: path.join(dir, 'temporal.log') }), buildWorkflowBundle()]);
    stops.push(dev.stop);
    const bundlePath = path.join(dir, 'workflow-bundle.js');
    await fs.writeFile(bundlePath, bundle.code);

    project.provide('temporalAddress', dev.address);
    project.provide('postgresAdminUrl', adminUrl);
    project.provide('templateDatabase', template);
    project.provide('workflowBundlePath', bundlePath);
    project.provide('integrationTmpDir', dir);
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    throw err;
  }
  return async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A migrated database that each test file's database is cloned from; its name. */
export async function createTemplateDatabase(adminUrl: string): Promise<string> {
  const template = `dr_template_${process.pid}`;
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${template}`);
  await c.query(`CREATE DATABASE ${template}`);
  await c.end();
  const templateDb = createDb(withDatabase(adminUrl, template));
  await migrate(templateDb);
  await templateDb.destroy();
  return template;
}
