/**
 * Staged rollouts (issue 14, SPEC G1, G2): the rollout's devices split in planned order into ordered
 * groups, and the thresholds that let the next group start (`successThreshold`) or halt the rollout
 * (`errorThreshold`, after `minFinished` final jobs). Pure rules: the request schemas, the split, the
 * threshold parsing and the two checks. The workflow keeps the counts; these functions decide. No zod
 * here: the workflow bundle imports this file (the request schemas are domain/groups-request.ts).
 */
export const MAX_GROUPS = 20;
export const GROUP_NAME_MAX = 64;
/** Default of `safety.minFinished` (capped by the group's size). */
export const DEFAULT_MIN_FINISHED = 10;
export const DEFAULT_SUCCESS_THRESHOLD = '90%';
export const DEFAULT_ERROR_THRESHOLD = '5%';

/** A threshold: a share of the jobs considered (`"90%"`) or a count of them (`9`). */
export type Threshold = { kind: 'share'; percent: number } | { kind: 'count'; n: number };

const SHARE_RE = /^(\d{1,3}(?:\.\d{1,2})?)\s*%$/;
export const THRESHOLD_MESSAGE = 'must be a share such as "90%" (0–100 %) or a whole number of jobs ≥ 0';

/** `"90%"` → share 90, `9` → count 9; undefined when it is neither. */
export function parseThreshold(v: unknown): Threshold | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 1_000_000 ? { kind: 'count', n: v } : undefined;
  if (typeof v !== 'string') return undefined;
  const m = SHARE_RE.exec(v.trim());
  if (!m) return undefined;
  const percent = Number(m[1]);
  return percent <= 100 ? { kind: 'share', percent } : undefined;
}

/** Whether `part` of `whole` reaches the threshold (a share of 0 jobs reaches nothing but 0 %). */
export function reaches(t: Threshold, part: number, whole: number): boolean {
  if (t.kind === 'count') return part >= Math.min(t.n, whole);
  if (whole <= 0) return t.percent === 0;
  return part * 100 >= t.percent * whole;
}

/** `"90%"` / `"9 jobs"`: for messages. */
export const thresholdText = (t: Threshold): string => (t.kind === 'share' ? `${t.percent}%` : `${t.n} jobs`);

/** A group's size as the request gives it: a count, or a share of the rollout's devices (`"20%"`). */
export const GROUP_SIZE_MESSAGE = 'must be a whole number of devices ≥ 1 or a share of the rollout\'s devices such as "20%"';

export type GroupSize = { kind: 'count'; n: number } | { kind: 'share'; percent: number };

export function parseGroupSize(v: unknown): GroupSize | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 1 ? { kind: 'count', n: v } : undefined;
  const t = parseThreshold(v);
  return t?.kind === 'share' && t.percent > 0 ? t : undefined;
}

/** A group as the rollout runs it: its devices are the jobs with seq in [from, from + size). */
export interface RolloutGroup {
  name: string;
  from: number;
  size: number;
}

export interface RolloutSafety {
  success: Threshold;
  error: Threshold;
  minFinished: number;
  approval: 'auto' | 'manual';
}

/** A group of the request (schema: domain/groups-request.ts). */
export interface GroupRequest {
  name: string;
  devices?: number | string;
}

/** The safety rules of the request (schema: domain/groups-request.ts). */
export interface SafetyRequest {
  successThreshold?: number | string;
  errorThreshold?: number | string;
  minFinished?: number;
  approval?: 'auto' | 'manual';
}

export type GroupsError = { field: string; message: string };

/**
 * The groups of `total` devices in planned order. A share is rounded up (a 1 % canary of 50 devices is
 * 1 device) and every group is capped by the devices left; a group left without a device, or devices
 * left over after the last group, is an error naming the field. No groups: one group `all`.
 */
export function splitGroups(total: number, groups: readonly GroupRequest[] | undefined): RolloutGroup[] | GroupsError {
  if (!groups || groups.length === 0) return [{ name: 'all', from: 0, size: total }];
  const out: RolloutGroup[] = [];
  let from = 0;
  for (const [i, g] of groups.entries()) {
    const left = total - from;
    let size: number;
    if (g.devices === undefined) {
      if (i !== groups.length - 1)
        return { field: `groups.${i}.devices`, message: 'only the last group may leave out `devices`' };
      size = left;
    } else {
      const s = parseGroupSize(g.devices);
      if (!s) return { field: `groups.${i}.devices`, message: GROUP_SIZE_MESSAGE };
      size = Math.min(left, s.kind === 'count' ? s.n : Math.ceil((total * s.percent) / 100));
    }
    if (size <= 0) {
      return {
        field: `groups.${i}.devices`,
        message: `no device left for group "${g.name}": the groups before it take all ${total} selected device(s)`,
      };
    }
    out.push({ name: g.name, from, size });
    from += size;
  }
  if (from < total) {
    return {
      field: 'groups',
      message: `the groups take ${from} of the ${total} selected devices: leave out \`devices\` in the last group to give it the rest`,
    };
  }
  return out;
}

/** The safety rules with their defaults. */
export function resolveSafety(s: SafetyRequest | undefined): RolloutSafety {
  return {
    success: parseThreshold(s?.successThreshold ?? DEFAULT_SUCCESS_THRESHOLD) as Threshold,
    error: parseThreshold(s?.errorThreshold ?? DEFAULT_ERROR_THRESHOLD) as Threshold,
    minFinished: s?.minFinished ?? DEFAULT_MIN_FINISHED,
    approval: s?.approval ?? 'auto',
  };
}

/** The group of a seq (groups cover 0 … total − 1 in order); -1 outside. */
export function groupOf(groups: readonly RolloutGroup[], seq: number): number {
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i] as RolloutGroup;
    if (seq >= g.from && seq < g.from + g.size) return i;
  }
  return -1;
}

/** G1: the group's succeeded jobs reach the success threshold (of the group's size). */
export function successReached(safety: RolloutSafety, group: RolloutGroup, succeeded: number): boolean {
  return reaches(safety.success, succeeded, group.size);
}

/**
 * G2: the group must halt the rollout — at least `minFinished` (at most the jobs counted) of its jobs
 * are final, and its failures reach the error threshold of its final jobs. `final` and `failed` count
 * the jobs since the group's last resume; `open` is how many of its jobs could still become final.
 */
export function errorReached(safety: RolloutSafety, counted: { final: number; failed: number; open: number }): boolean {
  const { final, failed, open } = counted;
  if (final <= 0 || failed <= 0) return false;
  const minFinished = Math.max(1, Math.min(safety.minFinished, final + open));
  if (final < minFinished) return false;
  // a count of failures is a count (not capped by the jobs final so far)
  return safety.error.kind === 'count' ? failed >= safety.error.n : reaches(safety.error, failed, final);
}
