/**
 * Version comparison and the version decision (SPEC R8, seed sccm2007): what an install does given
 * the device's last reported inventory (software name → version). Pure and workflow-safe.
 *
 * Comparison rules (`compareVersions`):
 * - Case, surrounding blanks and a leading `v`/`version` are ignored; `_ - + , / :` and blanks separate
 *   like dots, and a digit/letter boundary separates too ("1.2a" = 1 · 2 · a, "rc1" = rc · 1).
 * - Numeric segments compare as numbers (1.10 > 1.9, 01 = 1, arbitrarily long digit runs).
 * - Missing segments count as 0: 2.0 = 2.0.0 = 2.
 * - Label words `build`, `rev`, `revision`, `r`, `release`, `ver`, `version`, `v` are ignored, only
 *   the numbers after them count: "5.2 build 7" = 5.2.7 > "5.2 build 6" > 5.2.
 * - Pre-release words sort below the release and below any number at the same place:
 *   dev < alpha (or `a` followed by a number) < beta (or `b` followed by a number) < milestone/m <
 *   pre/preview < rc/cr, and all of them < the release: 1.0-alpha < 1.0a2 < 1.0b1 < 1.0rc1 < 1.0 < 1.0.1.
 *   `snapshot` counts like dev.
 * - Any other word (e.g. a patch letter, "sp", "patch") sorts above the release without it (and above
 *   a 0 at the same place), below a positive number at the same place, and words compare
 *   alphabetically: 1.2 = 1.2.0 < 1.2a < 1.2b < 1.2.1.
 */

type Token = { kind: 'num'; value: bigint } | { kind: 'pre'; rank: number } | { kind: 'word'; value: string };

const LABELS = new Set(['build', 'rev', 'revision', 'r', 'release', 'ver', 'version', 'v']);

const PRE_RANKS: Record<string, number> = {
  dev: 0,
  snapshot: 0,
  alpha: 1,
  beta: 2,
  milestone: 3,
  m: 3,
  pre: 4,
  preview: 4,
  rc: 5,
  cr: 5,
};

function tokenizeVersion(version: string): Token[] {
  const parts =
    version
      .trim()
      .toLowerCase()
      .match(/\d+|[a-z]+/g) ?? [];
  const tokens: Token[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    const next = parts[i + 1];
    if (/^\d/.test(p)) {
      tokens.push({ kind: 'num', value: BigInt(p) });
    } else if (LABELS.has(p)) {
      // a label: only what follows counts
    } else if (p in PRE_RANKS && (p !== 'm' || (next !== undefined && /^\d/.test(next)))) {
      tokens.push({ kind: 'pre', rank: PRE_RANKS[p] as number });
    } else if ((p === 'a' || p === 'b') && next !== undefined && /^\d/.test(next) && i > 0) {
      tokens.push({ kind: 'pre', rank: p === 'a' ? 1 : 2 });
    } else {
      tokens.push({ kind: 'word', value: p });
    }
  }
  return tokens;
}

/**
 * Tokens in order: pre-release words (by rank) < zero = "nothing here" < other words (alphabetical) <
 * positive numbers (numeric). Versions compare like sequences padded with zeros, so the order is
 * total and transitive (1.2 = 1.2.0 < 1.2a < 1.2.1; 1.2-rc < 1.2).
 */
const ZERO: Token = { kind: 'num', value: 0n };

function tokenClass(t: Token): number {
  if (t.kind === 'pre') return 0;
  if (t.kind === 'num') return t.value === 0n ? 1 : 3;
  return 2;
}

function compareTokens(a: Token, b: Token): number {
  const ca = tokenClass(a);
  const cb = tokenClass(b);
  if (ca !== cb) return ca < cb ? -1 : 1;
  if (a.kind === 'num' && b.kind === 'num') return a.value === b.value ? 0 : a.value < b.value ? -1 : 1;
  if (a.kind === 'pre' && b.kind === 'pre') return Math.sign(a.rank - b.rank);
  if (a.kind === 'word' && b.kind === 'word') return a.value === b.value ? 0 : a.value < b.value ? -1 : 1;
  return 0;
}

/** -1 when a is older than b, 0 when they are the same version, 1 when a is newer. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const ta = tokenizeVersion(a);
  const tb = tokenizeVersion(b);
  const n = Math.max(ta.length, tb.length);
  for (let i = 0; i < n; i++) {
    const c = compareTokens(ta[i] ?? ZERO, tb[i] ?? ZERO);
    if (c !== 0) return c < 0 ? -1 : 1;
  }
  return 0;
}

export const sameVersion = (a: string, b: string): boolean => compareVersions(a, b) === 0;

/** R8: install (nothing there), upgrade (older there), reconfigure (same there), newer (newer there). */
export type VersionAction = 'install' | 'upgrade' | 'reconfigure' | 'newer';

export interface VersionDecision {
  action: VersionAction;
  /** The version the device reported for this software, when it reported one. */
  installedVersion?: string;
}

/**
 * The device's reported version of `name`: the exact key, else a case- and blank-insensitive match.
 * Blank reported versions count as "not installed".
 */
export function reportedVersion(inventory: Record<string, unknown> | null | undefined, name: string): string | undefined {
  if (!inventory) return undefined;
  const pick = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
  if (Object.hasOwn(inventory, name)) {
    const exact = pick(inventory[name]);
    if (exact !== undefined) return exact;
  }
  const norm = (s: string) => s.trim().replace(/\s+/g, ' ').toLowerCase();
  const wanted = norm(name);
  for (const [k, v] of Object.entries(inventory)) {
    if (norm(k) === wanted) {
      const found = pick(v);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** R8 from the device's last reported inventory. */
export function decideVersion(
  inventory: Record<string, unknown> | null | undefined,
  software: { name: string; version: string },
): VersionDecision {
  const installedVersion = reportedVersion(inventory, software.name);
  if (installedVersion === undefined) return { action: 'install' };
  const c = compareVersions(installedVersion, software.version);
  return { action: c < 0 ? 'upgrade' : c === 0 ? 'reconfigure' : 'newer', installedVersion };
}

/** V2: does this inventory report exactly `version` of `name`? */
export function reportsVersion(
  inventory: Record<string, unknown> | null | undefined,
  software: { name: string; version: string },
): boolean {
  const v = reportedVersion(inventory, software.name);
  return v !== undefined && sameVersion(v, software.version);
}
