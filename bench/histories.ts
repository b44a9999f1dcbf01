/**
 * Temporal history sizes: events (and encoded bytes) per install workflow (a sample) and per run of a
 * rollout-like workflow (every run of its continue-as-new chain), with a breakdown by event type.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const EventType = temporal.api.enums.v1.EventType;

function eventTypeName(e: HistoryEvent): string {
  const name = EventType[e.eventType ?? 0] ?? String(e.eventType);
  return name.replace(/^EVENT_TYPE_/, '');
}

async function historyOf(client: Client, workflowId: string, runId?: string): Promise<HistoryEvent[]> {
  const h = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  return h.events ?? [];
}

export interface HistoryStats {
  workflows: number;
  meanEvents: number;
  minEvents: number;
  maxEvents: number;
  /** Mean count per event type. */
  byType: Record<string, number>;
  /** Mean encoded size of a history (protobuf bytes: what the server stores and sends), and per event type. */
  meanBytes: number;
  bytesByType: Record<string, number>;
}

export function statsOf(histories: HistoryEvent[][]): HistoryStats {
  const byType: Record<string, number> = {};
  const bytesByType: Record<string, number> = {};
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  let sum = 0;
  let bytes = 0;
  for (const h of histories) {
    sum += h.length;
    min = Math.min(min, h.length);
    max = Math.max(max, h.length);
    for (const e of h) {
      const t = eventTypeName(e);
      const size = temporal.api.history.v1.HistoryEvent.encode(e).finish().length;
      byType[t] = (byType[t] ?? 0) + 1;
      bytesByType[t] = (bytesByType[t] ?? 0) + size;
      bytes += size;
    }
  }
  const n = histories.length || 1;
  const mean = (o: Record<string, number>, d: number) => {
    for (const k of Object.keys(o)) o[k] = Math.round(((o[k] as number) / n) * 10 ** d) / 10 ** d;
    return Object.fromEntries(Object.entries(o).sort((a, b) => b[1] - a[1]));
  };
  return {
    workflows: histories.length,
    meanEvents: Math.round((sum / n) * 10) / 10,
    minEvents: histories.length ? min : 0,
    maxEvents: max,
    byType: mean(byType, 1),
    meanBytes: Math.round(bytes / n),
    bytesByType: mean(bytesByType, 0),
  };
}

/** Histories of a sample of workflow ids (at most `n`, spread over the list). */
export async function sampleHistories(client: Client, workflowIds: string[], n: number): Promise<HistoryEvent[][]> {
  const step = Math.max(1, Math.floor(workflowIds.length / n));
  const pick = workflowIds.filter((_, i) => i % step === 0).slice(0, n);
  const out: HistoryEvent[][] = [];
  for (const id of pick) out.push(await historyOf(client, id));
  return out;
}

export interface RunsStats {
  runs: number;
  eventsPerRun: number[];
  totalEvents: number;
  maxEventsPerRun: number;
  meanEventsPerRun: number;
  byType: Record<string, number>;
}

/** Every run of a continue-as-new chain, newest first (bounded to `maxRuns`). */
export async function runsOf(client: Client, workflowId: string, maxRuns = 500): Promise<RunsStats> {
  const eventsPerRun: number[] = [];
  const byType: Record<string, number> = {};
  let runId: string | undefined;
  for (let i = 0; i < maxRuns; i++) {
    const events = await historyOf(client, workflowId, runId);
    eventsPerRun.push(events.length);
    for (const e of events) {
      const t = eventTypeName(e);
      byType[t] = (byType[t] ?? 0) + 1;
    }
    const prev = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!prev) break;
    runId = prev;
  }
  eventsPerRun.reverse();
  const total = eventsPerRun.reduce((a, b) => a + b, 0);
  return {
    runs: eventsPerRun.length,
    eventsPerRun,
    totalEvents: total,
    maxEventsPerRun: Math.max(0, ...eventsPerRun),
    meanEventsPerRun: Math.round((total / Math.max(1, eventsPerRun.length)) * 10) / 10,
    byType: Object.fromEntries(Object.entries(byType).sort((a, b) => b[1] - a[1])),
  };
}
