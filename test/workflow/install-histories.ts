/**
 * Workflow histories as JSON files (the format `temporal workflow show --output json` writes), for the
 * recorded histories of test/workflow/histories/ (written by install.test.ts and rollout.test.ts with
 * RECORD_HISTORIES=1, replayed by replay.test.ts).
 *
 * Why not @temporalio/common's historyToJSON/historyFromJSON: in this install npm could not hoist
 * protobufjs 8 (a protobufjs 7 sits at the top level), so @temporalio/common and @temporalio/proto each
 * got their own nested copy, and common's protojson rejects proto's types ("type must be a Type").
 * Here protojson is loaded from the copy @temporalio/proto itself uses, which works either way.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Proto from '@temporalio/proto';

type History = Proto.temporal.api.history.v1.IHistory;

// Plain CommonJS require (not the test runner's ES module interop): the real protobuf root object.
const localRequire = createRequire(__filename);
const proto: typeof Proto = localRequire('@temporalio/proto');
const { patchProtobufRoot } = localRequire('@temporalio/proto/lib/patch-protobuf-root');
const protoRequire = createRequire(localRequire.resolve('@temporalio/proto'));
const protojson: {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): unknown;
} = protoRequire('protobufjs/ext/protojson');
const historyType = (patchProtobufRoot(proto) as any).lookupType('temporal.api.history.v1.History');

const HISTORIES_DIR = path.join(__dirname, 'histories');
/**
 * One directory per shape of the install workflow's histories; a released shape's histories stay and
 * keep replaying. `v1`: before the `install-local-db-activities` patch; `v2`: since; `v3`: with the
 * checked-signals, device-failure, revoke-when-final, arrival, cancel-keeps-arrived and push-send-timeout
 * patches too; `v4`: with the in-house-needs-SMS and final-transition-revokes patches as well (issue 17:
 * the final transition revokes the links in the same local activity); `v5`: install revision 2 (every
 * patch applied without `patched()`: no patch markers, no TemporalChangeVersion upserts — what rollouts
 * start since issue 17).
 */
export const HISTORY_SETS = ['v1', 'v2', 'v3', 'v4', 'v5'] as const;
const CURRENT_SET = 'v5' satisfies (typeof HISTORY_SETS)[number];
/**
 * The rollout workflow's histories (with pause, resume, schedule changes and cancel). `rollout-v1`:
 * before the `rollout-update-waits-for-planned-times` patch; `rollout-v2`: since; `rollout-v3`: with the
 * spread, inside-window, background-alert, carried-replan, watched-children, cancel-skips-arrived and
 * workflow-cancel patches too; `rollout-v4`: with the groups-and-safety patch as well (issue 14: staged
 * groups, the automatic halt, manual approval), recorded by rollout.test.ts and rollout-groups.test.ts.
 */
export const ROLLOUT_HISTORY_SETS = ['rollout-v1', 'rollout-v2', 'rollout-v3', 'rollout-v4'] as const;
export const CURRENT_ROLLOUT_SET = 'rollout-v4' satisfies (typeof ROLLOUT_HISTORY_SETS)[number];
export type HistorySet = (typeof HISTORY_SETS)[number] | (typeof ROLLOUT_HISTORY_SETS)[number];

function historyToJson(history: History): unknown {
  return protojson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history));
}

function historyFromJson(json: unknown): History {
  const h = protojson.fromJson(historyType, json, { ignoreUnknownFields: true });
  if (!h) throw new TypeError('invalid history');
  return h as History;
}

/** Writes `histories/<set>/<name>.json`, formatted the way the repo's Biome wants it (`npm run lint`). */
export async function writeHistory(name: string, history: History, set: HistorySet = CURRENT_SET): Promise<void> {
  const dir = path.join(HISTORIES_DIR, set);
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  await fs.writeFile(file, `${JSON.stringify(historyToJson(history), null, 2)}\n`);
  execFileSync(path.resolve(__dirname, '../../node_modules/.bin/biome'), ['format', '--write', file], { stdio: 'ignore' });
}

export interface RecordedHistory {
  set: HistorySet;
  /** The path's name (file name without `.json`). */
  name: string;
  workflowId: string;
  history: History;
}

export async function readHistories(which: readonly HistorySet[] = HISTORY_SETS): Promise<RecordedHistory[]> {
  const sets = await Promise.all(
    which.map(async (set) => {
      const dir = path.join(HISTORIES_DIR, set);
      const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).sort();
      return Promise.all(
        names.map(async (f) => {
          const history = historyFromJson(JSON.parse(await fs.readFile(path.join(dir, f), 'utf8')));
          const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
          return { set, name: f.replace(/\.json$/, ''), workflowId: started?.workflowId ?? `replay/${set}/${f}`, history };
        }),
      );
    }),
  );
  return sets.flat();
}
