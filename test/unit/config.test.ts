import { describe, expect, it } from 'vitest';
import { loadConfig, parseDuration } from '../../infra/config';

describe('parseDuration', () => {
  it.each([
    ['1500', 1500],
    ['90s', 90_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['0.5h', 1_800_000],
  ])('%s → %d ms', (input, ms) => expect(parseDuration(input)).toBe(ms));

  it.each(['', 'soon', '-5m', '0', '5 weeks'])('refuses %j naming the setting', (input) => {
    expect(() => parseDuration(input, 'PUSH_TICKET_LIFETIME')).toThrow(/PUSH_TICKET_LIFETIME/);
  });
});

describe('loadConfig', () => {
  it('has a working default for everything (npm start with no configuration)', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.temporalAddress).toBeUndefined();
    expect(c.databaseUrl).toBeUndefined();
    expect(c.temporalUiPort).toBe(8233);
    expect(c.temporalUiUrl).toBeUndefined();
    expect(loadConfig({ TEMPORAL_UI_URL: 'https://temporal.example.com/' }).temporalUiUrl).toBe('https://temporal.example.com');
    expect(c.temporalNamespace).toBe('default');
    expect(c.publicUrl).toBe('http://localhost:3000');
    expect(c.timeouts.ticketLifetimeMs).toBe(7 * 86_400_000);
    // a push is sent again while the gateway fails, for a day by default (PUSH_SEND_TIMEOUT)
    expect(c.timeouts.pushSendMs).toBe(86_400_000);
    expect(loadConfig({ PUSH_SEND_TIMEOUT: '90m' }).timeouts.pushSendMs).toBe(90 * 60_000);
  });

  it('takes the environment', () => {
    const c = loadConfig({
      PORT: '8080',
      TEMPORAL_ADDRESS: 'temporal:7233',
      DATABASE_URL: 'postgres://x/y',
      PUBLIC_URL: 'https://dr.example.com/',
    });
    expect(c.port).toBe(8080);
    expect(c.temporalAddress).toBe('temporal:7233');
    expect(c.databaseUrl).toBe('postgres://x/y');
    expect(c.publicUrl).toBe('https://dr.example.com');
  });

  it('refuses a bad port clearly', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
  });
});

describe('log lines of workflows carry the domain ids', () => {
  it('derives rolloutId / deviceId from the workflow id', async () => {
    const { withDomainIds } = await import('../../infra/telemetry');
    expect(withDomainIds({ workflowId: 'install/r-1/d-2', runId: 'x' })).toEqual({
      rolloutId: 'r-1',
      deviceId: 'd-2',
      workflowId: 'install/r-1/d-2',
      runId: 'x',
    });
    expect(withDomainIds({ workflowId: 'rollout/r-1' })).toEqual({ rolloutId: 'r-1', workflowId: 'rollout/r-1' });
    expect(withDomainIds({ workflowId: 'diagnostics/abc' })).toEqual({ workflowId: 'diagnostics/abc' });
    expect(withDomainIds({ message: 'no workflow' })).toEqual({ message: 'no workflow' });
  });
});
