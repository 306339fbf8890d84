/**
 * One SVG chart per scenario, written by hand (no charting dependency, no
 * external resources: the file stands alone).
 *
 * What a reader must see at a glance is where each strategy departs from
 * the ideal (the exact single-store bucket), so the main panel plots each
 * strategy's difference from the ideal, on a scale fitted to the strategies
 * close to it (ours and those within {@link CLOSE_FACTOR} of ours): a few
 * tokens of lag stay visible next to peers that are off by thousands, which
 * are clipped at the edge and marked off scale with how far they go. Lines
 * that coincide stay distinguishable: ours is drawn first and thick, the
 * others on top of it in thinner dashes, each labelled at its right end.
 * A partition (or any fault window) is shaded in both panels. The small
 * panel below shows the cumulative admissions of all of them, for scale.
 */

import { type Series, STRATEGY_LABELS, type StrategyName, type StrategyResult } from './types';

const WIDTH = 960;
const LEFT = 78;
/** Room for the labels at the lines' right ends. */
const RIGHT = 140;
const LEGEND_TOP = 60;
const LEGEND_ROW = 18;

/** A strategy is drawn on the main panel's scale when it stays within this factor of ours. */
export const CLOSE_FACTOR = 3;

/** Colour-blind-safe palette (Okabe–Ito), one colour per strategy. */
const COLOURS: Readonly<Record<StrategyName, string>> = {
  exact: '#000000',
  'checkpoint-merge': '#0072B2',
  limiter: '#56B4E9',
  independent: '#D55E00',
  'static-split': '#009E73',
  'pn-counter': '#CC79A7',
  escrow: '#E69F00',
};

/** Line styles: ours solid and thick, the others in dashes of their own. */
const STYLES: Readonly<Record<StrategyName, string>> = {
  exact: 'stroke-width="2.5" stroke-dasharray="8 5"',
  'checkpoint-merge': 'stroke-width="4"',
  limiter: 'stroke-width="3"',
  independent: 'stroke-width="2" stroke-dasharray="6 3"',
  'static-split': 'stroke-width="2" stroke-dasharray="2 3"',
  'pn-counter': 'stroke-width="2" stroke-dasharray="10 3 2 3"',
  escrow: 'stroke-width="3" stroke-dasharray="12 4"',
};

/** Short names for the labels at the lines' ends. */
const SHORT_LABELS: Readonly<Record<StrategyName, string>> = {
  exact: 'ideal',
  'checkpoint-merge': 'ours',
  limiter: 'ours as shipped',
  independent: 'independent',
  'static-split': 'static split',
  'pn-counter': 'PN-counter',
  escrow: 'escrow',
};

/** A stretch of the scenario to shade (a partition), in the scenario's ms. */
export interface ChartWindow {
  readonly fromMs: number;
  readonly toMs: number;
  readonly label: string;
}

/** Options of {@link renderChart}. */
export interface ChartOptions {
  /** Fault windows to shade (partitions). */
  readonly windows?: readonly ChartWindow[];
}

function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** A "nice" tick step (1, 2 or 5 × 10^k) giving about `count` ticks over `span`. */
export function niceStep(span: number, count: number): number {
  if (!(span > 0)) return 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

function ticks(min: number, max: number, count: number): number[] {
  const step = niceStep(max - min, count);
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 10_000) return `${Math.round(value / 1000)}k`;
  if (abs >= 1000) return `${(value / 1000).toFixed(1)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** `+12`, `−3`, `±0`; `compact` writes thousands as `+1.7k` (the labels at the lines' ends). */
function signed(value: number, compact = false): string {
  const rounded = Math.round(value);
  const sign = rounded > 0 ? '+' : rounded < 0 ? '−' : '±';
  const abs = Math.abs(rounded);
  return `${sign}${compact && abs >= 1000 ? formatNumber(abs) : abs.toLocaleString('en-US')}`;
}

/** A plot area and its value ranges. */
interface Panel {
  readonly id: string;
  readonly top: number;
  readonly height: number;
  readonly xMin: number;
  readonly xMax: number;
  readonly yMin: number;
  readonly yMax: number;
}

const plotWidth = WIDTH - LEFT - RIGHT;
const px = (p: Panel, v: number) => LEFT + ((v - p.xMin) / (p.xMax - p.xMin || 1)) * plotWidth;
const py = (p: Panel, v: number) =>
  p.top + p.height - ((v - p.yMin) / (p.yMax - p.yMin || 1)) * p.height;

function axes(p: Panel, yLabel: string, xLabel: string | undefined): string[] {
  const out: string[] = [];
  for (const v of ticks(p.yMin, p.yMax, 5)) {
    out.push(
      `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${py(p, v).toFixed(1)}" y2="${py(p, v).toFixed(1)}" stroke="#e5e5e5"/>`,
      `<text x="${LEFT - 8}" y="${(py(p, v) + 4).toFixed(1)}" text-anchor="end">${formatNumber(v)}</text>`,
    );
  }
  for (const v of ticks(p.xMin, p.xMax, 8)) {
    out.push(
      `<line x1="${px(p, v).toFixed(1)}" x2="${px(p, v).toFixed(1)}" y1="${p.top + p.height}" y2="${p.top + p.height + 5}" stroke="#333"/>`,
      `<text x="${px(p, v).toFixed(1)}" y="${p.top + p.height + 18}" text-anchor="middle">${formatNumber(v)}</text>`,
    );
  }
  out.push(
    `<rect x="${LEFT}" y="${p.top}" width="${plotWidth}" height="${p.height}" fill="none" stroke="#333"/>`,
    `<text transform="translate(18 ${p.top + p.height / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  );
  if (xLabel !== undefined) {
    out.push(
      `<text x="${LEFT + plotWidth / 2}" y="${p.top + p.height + 36}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    );
  }
  return out;
}

function polyline(p: Panel, xs: readonly number[], ys: readonly number[], style: string): string {
  const points = xs.map((x, i) => `${px(p, x).toFixed(1)},${py(p, ys[i]!).toFixed(1)}`).join(' ');
  return `<polyline clip-path="url(#clip-${p.id})" fill="none" ${style} points="${points}"/>`;
}

/** Shades each window (seconds from the chart's start) over the panel, clipped to it. */
function shade(p: Panel, windows: readonly { from: number; to: number }[]): string[] {
  return windows.map(
    (w) =>
      `<rect class="fault-window" clip-path="url(#clip-${p.id})" x="${px(p, w.from).toFixed(1)}" y="${p.top}" width="${Math.max(1, px(p, w.to) - px(p, w.from)).toFixed(1)}" height="${p.height}" fill="#f0b26b" fill-opacity="0.22"/>`,
  );
}

/** Spreads label positions (ascending y) so that no two are closer than `gap`, within [min, max]. */
export function spreadLabels(
  ys: readonly number[],
  gap: number,
  min: number,
  max: number,
): number[] {
  const order = ys.map((y, i) => ({ y, i })).sort((a, b) => a.y - b.y);
  const placed = order.map((o) => Math.min(max, Math.max(min, o.y)));
  for (let k = 1; k < placed.length; k++) {
    placed[k] = Math.max(placed[k]!, placed[k - 1]! + gap);
  }
  // Pushed past the bottom: shift the whole run back up.
  const overflow = (placed.at(-1) ?? max) - max;
  if (overflow > 0) {
    for (let k = placed.length - 1; k >= 0; k--) {
      const limit = k === placed.length - 1 ? max : placed[k + 1]! - gap;
      placed[k] = Math.min(placed[k]!, limit);
    }
  }
  const out = new Array<number>(ys.length);
  order.forEach((o, k) => {
    out[o.i] = placed[k]!;
  });
  return out;
}

/** Renders the chart of one scenario run as a self-contained SVG document. */
export function renderChart(
  title: string,
  subtitle: string,
  series: Series,
  results: readonly StrategyResult[],
  options: ChartOptions = {},
): string {
  const fromMs = series.timesMs[0] ?? 0;
  const xs = series.timesMs.map((t) => (t - fromMs) / 1000);
  const xMax = xs[xs.length - 1] ?? 1;
  const names = [...series.byStrategy.keys()];
  const ideal = series.byStrategy.get('exact') ?? xs.map(() => 0);
  const diffs = new Map(
    names.map((n) => [n, series.byStrategy.get(n)!.map((v, i) => v - ideal[i]!)]),
  );
  const maxAbs = (n: StrategyName) => Math.max(0, ...diffs.get(n)!.map(Math.abs));
  const extremes = (n: StrategyName) => {
    const d = diffs.get(n)!;
    return { min: Math.min(0, ...d), max: Math.max(0, ...d) };
  };

  // Main panel's scale: ours, and whoever stays within CLOSE_FACTOR of ours.
  const oursSpan = Math.max(2, names.includes('checkpoint-merge') ? maxAbs('checkpoint-merge') : 0);
  const close = names.filter((n) => maxAbs(n) <= CLOSE_FACTOR * oursSpan);
  const offScale = names.filter((n) => !close.includes(n));
  const yTop = Math.max(2, ...close.map((n) => extremes(n).max)) * 1.12;
  const yBottom = Math.min(-2, ...close.map((n) => extremes(n).min)) * 1.12;

  const legendRows = names.length;
  const mainTop = LEGEND_TOP + legendRows * LEGEND_ROW + 30;
  const main: Panel = {
    id: 'main',
    top: mainTop,
    height: 300,
    xMin: 0,
    xMax,
    yMin: yBottom,
    yMax: yTop,
  };
  const cumulativeAll = names.flatMap((n) => series.byStrategy.get(n)!);
  const context: Panel = {
    id: 'context',
    top: main.top + main.height + 56,
    height: 110,
    xMin: 0,
    xMax,
    yMin: 0,
    yMax: Math.max(1, ...cumulativeAll) * 1.05,
  };
  const height = context.top + context.height + 48;
  const windows = (options.windows ?? [])
    .map((w) => ({
      from: (w.fromMs - fromMs) / 1000,
      to: (w.toMs - fromMs) / 1000,
      label: w.label,
    }))
    .filter((w) => w.to > 0 && w.from < xMax);

  const style = (name: StrategyName) => `stroke="${COLOURS[name]}" ${STYLES[name]}`;
  // Ours first (thick), the others over it (dashed), the ideal last.
  const drawOrder: StrategyName[] = [
    ...names.filter((n) => n === 'checkpoint-merge'),
    ...names.filter((n) => n !== 'checkpoint-merge' && n !== 'exact'),
    ...names.filter((n) => n === 'exact'),
  ];

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12" role="img" aria-label="${escapeXml(title)}">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    '<defs>',
    ...[main, context].map(
      (p) =>
        `<clipPath id="clip-${p.id}"><rect x="${LEFT}" y="${p.top}" width="${plotWidth}" height="${p.height}"/></clipPath>`,
    ),
    '</defs>',
    `<text x="${LEFT}" y="24" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${LEFT}" y="44" fill="#444">${escapeXml(subtitle)}</text>`,
  ];

  // Legend above the plots: every strategy, its worst window, and how it is drawn.
  names.forEach((name, i) => {
    const y = LEGEND_TOP + i * LEGEND_ROW + 8;
    const result = results.find((r) => r.strategy === name);
    const excess = result ? `, worst window +${result.worstWindowExcessTokens.toFixed(1)}` : '';
    const { min, max } = extremes(name);
    const note = offScale.includes(name)
      ? ` — off scale: ${signed(max >= -min ? max : min)} from the ideal at most`
      : name !== 'exact' && maxAbs(name) < 0.5
        ? ' — same as the ideal throughout'
        : '';
    out.push(
      `<line x1="${LEFT}" x2="${LEFT + 30}" y1="${y}" y2="${y}" ${style(name)}/>`,
      `<text x="${LEFT + 40}" y="${y + 4}">${escapeXml(`${STRATEGY_LABELS[name]}${excess}${note}`)}</text>`,
    );
  });

  out.push(
    ...shade(main, windows),
    ...shade(context, windows),
    ...axes(main, 'admitted minus ideal (tokens)', undefined),
    ...axes(context, 'admitted (cumulative)', 'time (s)'),
  );
  for (const w of windows) {
    const mid = (Math.max(0, w.from) + Math.min(xMax, w.to)) / 2;
    out.push(
      `<text x="${px(main, mid).toFixed(1)}" y="${main.top + 16}" text-anchor="middle" fill="#8a4b08">${escapeXml(w.label)}</text>`,
    );
  }
  for (const name of drawOrder) {
    out.push(polyline(main, xs, diffs.get(name)!, style(name)));
    out.push(polyline(context, xs, series.byStrategy.get(name)!, style(name)));
  }

  // Labels at the right end of the main panel's lines, spread apart where they meet.
  const ends = names.map((n) => {
    const last = diffs.get(n)!.at(-1) ?? 0;
    const shown = Math.min(main.yMax, Math.max(main.yMin, last));
    return { name: n, y: py(main, shown), last, clipped: shown !== last };
  });
  const labelYs = spreadLabels(
    ends.map((e) => e.y),
    14,
    main.top + 6,
    main.top + main.height - 2,
  );
  ends.forEach((e, i) => {
    const text = `${SHORT_LABELS[e.name]} ${e.clipped ? (e.last > 0 ? '↑' : '↓') : ''}${signed(e.last, true)}`;
    out.push(
      `<text x="${WIDTH - RIGHT + 8}" y="${(labelYs[i]! + 4).toFixed(1)}" fill="${COLOURS[e.name]}">${escapeXml(text)}</text>`,
    );
  });

  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
