/**
 * The rollout's staged groups (issue 14, SPEC G1, G2): which seqs may start (`limit`), each group's
 * counts, its gate (the previous group's success threshold and, with manual approval, an admin's
 * approval) and its automatic halt check. Plain state, carried across continue-as-new (`encode`); the
 * rules are domain/groups.ts, the scheduler (scheduler.ts) acts on what this says.
 */
import { errorReached, groupOf, type RolloutGroup, type RolloutSafety, successReached, thresholdText } from '../../domain/groups';
import { FAILURE_STATUSES, type InstallStatus, SUCCESS_STATUSES } from '../../domain/status';
import type { GroupCarry, GroupProgress, GroupWait, HaltAlert } from '../messages';

const fresh = (released: boolean): GroupCarry => ({
  final: 0,
  succeeded: 0,
  failed: 0,
  baseFinal: 0,
  baseFailed: 0,
  released,
  approved: false,
});

export class GroupGate {
  private readonly g: GroupCarry[];

  constructor(
    readonly groups: readonly RolloutGroup[],
    readonly safety: RolloutSafety,
    carry: GroupCarry[] | undefined,
  ) {
    this.g = groups.map((_, i) => (carry?.[i] ? { ...carry[i] } : fresh(i === 0)));
  }

  encode(): GroupCarry[] {
    return this.g.map((c) => ({ ...c }));
  }

  /** Seqs below this may start: the end of the last released group. */
  limit(): number {
    let end = 0;
    for (const [i, grp] of this.groups.entries()) {
      if (!this.g[i]?.released) break;
      end = grp.from + grp.size;
    }
    return end;
  }

  /** The last released group (the one now allowed to start). */
  current(): number {
    let cur = 0;
    for (let i = 0; i < this.g.length && this.g[i]?.released; i++) cur = i;
    return cur;
  }

  currentName(): string {
    return (this.groups[this.current()] as RolloutGroup).name;
  }

  /** Counts a final result of `seq` (once per seq: the caller dedupes); the group's index, or -1. */
  countFinal(seq: number, status: string): number {
    const i = groupOf(this.groups, seq);
    const c = this.g[i];
    if (!c) return -1;
    c.final++;
    if (SUCCESS_STATUSES.has(status as InstallStatus)) c.succeeded++;
    if (FAILURE_STATUSES.has(status as InstallStatus)) c.failed++;
    return i;
  }

  /** The jobs from `fromSeq` on were cancelled before they started (final, neither succeeded nor failed). */
  cancelledFrom(fromSeq: number): void {
    for (const [i, grp] of this.groups.entries()) {
      const n = Math.max(0, grp.from + grp.size - Math.max(fromSeq, grp.from));
      (this.g[i] as GroupCarry).final += Math.min(n, grp.size);
    }
  }

  /** G2: the group's failures since its last resume reach the error threshold (after `minFinished`). */
  shouldHalt(i: number): boolean {
    const c = this.g[i];
    const grp = this.groups[i];
    if (!c || !grp) return false;
    return errorReached(this.safety, {
      final: c.final - c.baseFinal,
      failed: c.failed - c.baseFailed,
      open: grp.size - c.final,
    });
  }

  haltAlert(i: number, halt: number): HaltAlert {
    const c = this.g[i] as GroupCarry;
    return {
      group: i,
      name: (this.groups[i] as RolloutGroup).name,
      final: c.final - c.baseFinal,
      failed: c.failed - c.baseFailed,
      threshold: thresholdText(this.safety.error),
      halt,
    };
  }

  /** A resume: the error threshold counts each group's jobs from now on. */
  resetBases(): void {
    for (const c of this.g) {
      c.baseFinal = c.final;
      c.baseFailed = c.failed;
    }
  }

  private gateOpen(i: number): boolean {
    const prev = this.groups[i - 1];
    const p = this.g[i - 1];
    if (!prev || !p?.released) return false;
    if (!successReached(this.safety, prev, p.succeeded)) return false;
    return this.safety.approval === 'auto' || (this.g[i] as GroupCarry).approved;
  }

  /** Releases, in order, every group whose gate is open; the indexes released now. */
  release(): number[] {
    const out: number[] = [];
    for (let i = 1; i < this.g.length; i++) {
      const c = this.g[i] as GroupCarry;
      if (c.released) continue;
      if (!this.gateOpen(i)) break;
      c.released = true;
      out.push(i);
    }
    return out;
  }

  /** Why an approval of group `index` is refused, or undefined when it is accepted. */
  approvalRefusal(index: number): { notFound?: string; conflict?: string } | undefined {
    if (!Number.isInteger(index) || index < 0 || index >= this.groups.length) {
      return { notFound: `no group ${String(index)}: this rollout has groups 0 … ${this.groups.length - 1}` };
    }
    if (this.safety.approval !== 'manual')
      return { conflict: 'this rollout approves its groups automatically (safety.approval "auto")' };
    if (index === 0) return { conflict: 'group 0 starts with the rollout: it needs no approval' };
    const c = this.g[index] as GroupCarry;
    if (c.released) return { conflict: `group ${index} (${this.groups[index]?.name}) has started already` };
    if (c.approved) return { conflict: `group ${index} (${this.groups[index]?.name}) is approved already` };
    return undefined;
  }

  approve(index: number): void {
    const c = this.g[index];
    if (c) c.approved = true;
  }

  /** The next group's wait, when `cursor` stands at its start (every released job started). */
  waiting(cursor: number): GroupWait | null {
    const i = this.groups.findIndex((_, k) => !this.g[k]?.released);
    if (i <= 0) return null;
    const grp = this.groups[i] as RolloutGroup;
    if (cursor < grp.from) return null;
    const prev = this.groups[i - 1] as RolloutGroup;
    const p = this.g[i - 1] as GroupCarry;
    if (!successReached(this.safety, prev, p.succeeded)) {
      return {
        group: i,
        name: grp.name,
        reason: 'success-threshold',
        message: `group ${i} (${grp.name}) starts once ${thresholdText(this.safety.success)} of group ${i - 1} (${prev.name}) have succeeded: ${p.succeeded} of ${prev.size} so far`,
      };
    }
    return {
      group: i,
      name: grp.name,
      reason: 'approval',
      message: `group ${i} (${grp.name}) waits for an admin's approval: POST /api/v1/rollouts/:id/groups/${i}/approve`,
    };
  }

  progress(cursor: number): GroupProgress[] {
    return this.groups.map((grp, i) => {
      const c = this.g[i] as GroupCarry;
      let state: GroupProgress['state'];
      if (c.final >= grp.size) state = 'done';
      else if (c.released) state = 'running';
      else if (
        this.safety.approval === 'manual' &&
        !c.approved &&
        this.g[i - 1]?.released &&
        successReached(this.safety, this.groups[i - 1] as RolloutGroup, (this.g[i - 1] as GroupCarry).succeeded)
      )
        state = 'awaiting-approval';
      else state = 'waiting';
      return {
        index: i,
        name: grp.name,
        total: grp.size,
        started: Math.min(grp.size, Math.max(0, cursor - grp.from)),
        succeeded: c.succeeded,
        failed: c.failed,
        state,
      };
    });
  }
}
