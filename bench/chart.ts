/**
 * A line chart as plain SVG (no chart library): installs per second over time, one line per series.
 */

export interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  /** [seconds since start, value] */
  points: [number, number][];
}

/** Completions per `bucketS` second(s) from epoch-ms instants, relative to `t0`, as a per-second rate. */
export function ratePerSecond(instants: number[], t0: number, bucketS = 1): [number, number][] {
  if (instants.length === 0) return [];
  const end = Math.max(...instants);
  const n = Math.floor((end - t0) / 1000 / bucketS) + 1;
  const buckets = new Array<number>(Math.max(1, n)).fill(0);
  for (const at of instants) {
    const i = Math.floor((at - t0) / 1000 / bucketS);
    if (i >= 0 && i < buckets.length) buckets[i] = (buckets[i] as number) + 1;
  }
  return buckets.map((c, i) => [(i + 0.5) * bucketS, c / bucketS]);
}

/** A bucket width (≥ 5 s) giving at most ~`maxPoints` points for `durationS`. */
export function bucketFor(durationS: number, maxPoints = 60): number {
  const raw = durationS / maxPoints;
  for (const b of [5, 10, 15, 30, 60]) if (raw <= b) return b;
  return 120;
}

/** A per-second series (1-s buckets) summed into `bucketS`-second buckets, as a per-second rate. */
export function rebucket(perSecond: [number, number][], bucketS: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < perSecond.length; i += bucketS) {
    const slice = perSecond.slice(i, i + bucketS);
    const sum = slice.reduce((a, p) => a + p[1], 0);
    out.push([Math.round((i + slice.length / 2) * 10) / 10, Math.round((sum / slice.length) * 100) / 100]);
  }
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function lineChartSvg(series: Series[], o: { title: string; subtitle?: string; xLabel: string; yLabel: string }): string {
  const W = 900;
  const H = 460;
  const m = { l: 70, r: 20, t: 60, b: 90 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const xMax = niceMax(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[0]))));
  const yMax = niceMax(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1]))));
  const x = (v: number) => m.l + (v / xMax) * pw;
  const y = (v: number) => m.t + ph - (v / yMax) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.l}" y="24" font-size="16" font-weight="bold">${esc(o.title)}</text>`,
  );
  if (o.subtitle) out.push(`<text x="${m.l}" y="42" fill="#555">${esc(o.subtitle)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const yv = (yMax * i) / 5;
    const xv = (xMax * i) / 5;
    out.push(
      `<line x1="${m.l}" x2="${m.l + pw}" y1="${y(yv).toFixed(1)}" y2="${y(yv).toFixed(1)}" stroke="#e5e5e5"/>`,
      `<text x="${m.l - 8}" y="${(y(yv) + 4).toFixed(1)}" text-anchor="end">${+yv.toFixed(1)}</text>`,
      `<line x1="${x(xv).toFixed(1)}" x2="${x(xv).toFixed(1)}" y1="${m.t}" y2="${m.t + ph}" stroke="#f0f0f0"/>`,
      `<text x="${x(xv).toFixed(1)}" y="${m.t + ph + 18}" text-anchor="middle">${+xv.toFixed(1)}</text>`,
    );
  }
  out.push(
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#333"/>`,
    `<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#333"/>`,
    `<text x="${m.l + pw / 2}" y="${m.t + ph + 38}" text-anchor="middle">${esc(o.xLabel)}</text>`,
    `<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${x(p[0]).toFixed(1)} ${y(p[1]).toFixed(1)}`).join(' ');
    out.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} stroke-linejoin="round"/>`,
    );
  }
  series.forEach((s, i) => {
    const lx = m.l + (i % 2) * (pw / 2);
    const ly = H - 30 + Math.floor(i / 2) * 16 - (series.length > 2 ? 10 : 0);
    out.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${lx + 30}" y="${ly}">${esc(s.label)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
