/**
 * One SVG chart per scenario, written by hand (no charting dependency).
 *
 * Top panel: cumulative admitted tokens over time for every strategy, the
 * ideal (exact bucket) as a thick dashed line. Bottom panel: each strategy's
 * difference from the ideal, on a scale fitted to ours, so a few tokens of lag
 * are visible next to peers that are off by thousands (those are clipped and
 * marked "off scale" in the legend).
 */

import { type Series, STRATEGY_LABELS, type StrategyName, type StrategyResult } from './types';

const WIDTH = 960;
const HEIGHT = 620;
const LEFT = 78;
const RIGHT = 24;
const TOP_PANEL = { top: 64, height: 300 };
const DIFF_PANEL = { top: 410, height: 150 };

/** Colour-blind-safe palette (Okabe–Ito), one colour per strategy. */
const COLOURS: Readonly<Record<StrategyName, string>> = {
  exact: '#000000',
  'checkpoint-merge': '#0072B2',
  limiter: '#56B4E9',
  independent: '#D55E00',
  'static-split': '#009E73',
  'pn-counter': '#CC79A7',
};

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

interface Panel {
  readonly top: number;
  readonly height: number;
  readonly yMin: number;
  readonly yMax: number;
}

function axes(
  panel: Panel,
  xMin: number,
  xMax: number,
  yLabel: string,
  xLabel: string | undefined,
): string[] {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (v: number) => LEFT + ((v - xMin) / (xMax - xMin || 1)) * plotWidth;
  const y = (v: number) =>
    panel.top + panel.height - ((v - panel.yMin) / (panel.yMax - panel.yMin || 1)) * panel.height;
  const out: string[] = [];
  for (const v of ticks(panel.yMin, panel.yMax, 5)) {
    out.push(
      `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/>`,
      `<text x="${LEFT - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${formatNumber(v)}</text>`,
    );
  }
  for (const v of ticks(xMin, xMax, 8)) {
    out.push(
      `<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="${panel.top + panel.height}" y2="${panel.top + panel.height + 5}" stroke="#333"/>`,
      `<text x="${x(v).toFixed(1)}" y="${panel.top + panel.height + 18}" text-anchor="middle">${formatNumber(v)}</text>`,
    );
  }
  out.push(
    `<rect x="${LEFT}" y="${panel.top}" width="${plotWidth}" height="${panel.height}" fill="none" stroke="#333"/>`,
    `<text transform="translate(18 ${panel.top + panel.height / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  );
  if (xLabel !== undefined) {
    out.push(
      `<text x="${LEFT + plotWidth / 2}" y="${panel.top + panel.height + 36}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    );
  }
  return out;
}

function polyline(
  panel: Panel,
  xs: readonly number[],
  ys: readonly number[],
  xMin: number,
  xMax: number,
  style: string,
  clipId: string,
): string {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const points = xs
    .map((xv, i) => {
      const px = LEFT + ((xv - xMin) / (xMax - xMin || 1)) * plotWidth;
      const py =
        panel.top +
        panel.height -
        ((ys[i]! - panel.yMin) / (panel.yMax - panel.yMin || 1)) * panel.height;
      return `${px.toFixed(1)},${py.toFixed(1)}`;
    })
    .join(' ');
  return `<polyline clip-path="url(#${clipId})" fill="none" ${style} points="${points}"/>`;
}

/** Renders the chart of one scenario run as an SVG document. */
export function renderChart(
  title: string,
  subtitle: string,
  series: Series,
  results: readonly StrategyResult[],
): string {
  const fromMs = series.timesMs[0] ?? 0;
  const xs = series.timesMs.map((t) => (t - fromMs) / 1000);
  const xMin = 0;
  const xMax = xs[xs.length - 1] ?? 1;
  const ideal = series.byStrategy.get('exact') ?? xs.map(() => 0);
  const names = [...series.byStrategy.keys()];
  const all = names.flatMap((n) => series.byStrategy.get(n)!);
  const top: Panel = { ...TOP_PANEL, yMin: 0, yMax: Math.max(1, ...all) * 1.05 };

  const diffs = new Map(
    names.map((n) => [n, series.byStrategy.get(n)!.map((v, i) => v - ideal[i]!)]),
  );
  const oursDiff = diffs.get('checkpoint-merge') ?? [];
  const diffSpan = Math.max(2, ...oursDiff.map(Math.abs)) * 1.5;
  const bottom: Panel = { ...DIFF_PANEL, yMin: -diffSpan, yMax: diffSpan };
  const offScale = new Set(names.filter((n) => diffs.get(n)!.some((d) => Math.abs(d) > diffSpan)));

  const styleOf = (name: StrategyName) =>
    name === 'exact'
      ? `stroke="${COLOURS[name]}" stroke-width="3" stroke-dasharray="8 5"`
      : `stroke="${COLOURS[name]}" stroke-width="2"`;
  // The ideal is drawn last so it stays visible where ours overlaps it.
  const drawOrder = [...names.filter((n) => n !== 'exact'), ...names.filter((n) => n === 'exact')];

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12" role="img" aria-label="${escapeXml(title)}">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    '<defs>',
    `<clipPath id="clip-top"><rect x="${LEFT}" y="${top.top}" width="${WIDTH - LEFT - RIGHT}" height="${top.height}"/></clipPath>`,
    `<clipPath id="clip-diff"><rect x="${LEFT}" y="${bottom.top}" width="${WIDTH - LEFT - RIGHT}" height="${bottom.height}"/></clipPath>`,
    '</defs>',
    `<text x="${LEFT}" y="24" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${LEFT}" y="44" fill="#444">${escapeXml(subtitle)}</text>`,
    ...axes(top, xMin, xMax, 'admitted tokens (cumulative)', undefined),
    ...axes(bottom, xMin, xMax, 'minus ideal (tokens)', 'time (s)'),
  ];
  for (const name of drawOrder) {
    out.push(
      polyline(top, xs, series.byStrategy.get(name)!, xMin, xMax, styleOf(name), 'clip-top'),
    );
    out.push(polyline(bottom, xs, diffs.get(name)!, xMin, xMax, styleOf(name), 'clip-diff'));
  }

  // Legend inside the top panel, top-left, on a white box.
  const legendX = LEFT + 12;
  const legendY = top.top + 12;
  const rowHeight = 18;
  out.push(
    `<rect x="${legendX - 6}" y="${legendY - 6}" width="470" height="${names.length * rowHeight + 8}" fill="#ffffff" fill-opacity="0.9" stroke="#bbb"/>`,
  );
  names.forEach((name, i) => {
    const y = legendY + i * rowHeight + 8;
    const result = results.find((r) => r.strategy === name);
    const excess = result ? `, worst window +${result.worstWindowExcessTokens.toFixed(1)}` : '';
    const note = offScale.has(name) ? ' (off scale below)' : '';
    out.push(
      `<line x1="${legendX}" x2="${legendX + 28}" y1="${y}" y2="${y}" ${styleOf(name)}/>`,
      `<text x="${legendX + 36}" y="${y + 4}">${escapeXml(`${STRATEGY_LABELS[name]}${excess}${note}`)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
