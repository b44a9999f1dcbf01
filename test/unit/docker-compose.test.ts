import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ALL_SEARCH_ATTRIBUTES } from '../../domain/search-attributes';

// No Docker engine runs here: this checks the file users run against what the app needs.
const root = path.resolve(__dirname, '..', '..');
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true });
const services = compose.services as Record<string, any>;

const envOf = (name: string): Record<string, string> => services[name]?.environment ?? {};

describe('docker-compose.yml', () => {
  it('has every service of the production-like stack', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['api', 'postgresql', 'temporal', 'temporal-setup', 'temporal-ui', 'worker'].sort(),
    );
    for (const name of ['api', 'worker']) expect(services[name].build).toBe('.');
    expect(services.temporal.image).toMatch(/^temporalio\/auto-setup:/);
    expect(services['temporal-ui'].image).toMatch(/^temporalio\/ui:/);
  });

  it('publishes the API, the Temporal frontend and the UI on the documented ports', () => {
    expect(services.api.ports).toContain('3000:3000');
    expect(services.temporal.ports).toContain('7233:7233');
    expect(services['temporal-ui'].ports).toContain('8233:8080');
  });

  it('gives the api and worker every variable the app reads to reach its services', () => {
    for (const name of ['api', 'worker']) {
      const env = envOf(name);
      for (const key of [
        'DATABASE_URL',
        'TEMPORAL_ADDRESS',
        'TEMPORAL_NAMESPACE',
        'TEMPORAL_TASK_QUEUE',
        'ADMIN_API_KEY',
        'PUBLIC_URL',
        'DATA_DIR',
      ]) {
        expect(env, `${name}.${key}`).toHaveProperty(key);
      }
      expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
      const db = new URL(env.DATABASE_URL as string);
      expect(db.hostname).toBe('postgresql');
      expect(db.pathname).toBe(`/${envOf('postgresql').POSTGRES_DB}`);
      expect(db.username).toBe(envOf('postgresql').POSTGRES_USER);
    }
    expect(envOf('api').HOST).toBe('0.0.0.0');
    expect(envOf('api').PORT).toBe('3000');
  });

  it('registers every custom search attribute the workflows use', () => {
    const script = String(services['temporal-setup'].command);
    for (const key of ALL_SEARCH_ATTRIBUTES) expect(script).toContain(key.name);
    expect(script).toContain('--type Keyword');
  });

  it('starts the app only after Postgres is healthy and the search attributes exist', () => {
    for (const name of ['api', 'worker']) {
      expect(services[name].depends_on.postgresql.condition).toBe('service_healthy');
      expect(services[name].depends_on['temporal-setup'].condition).toBe('service_completed_successfully');
    }
  });
});
