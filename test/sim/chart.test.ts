import { describe, expect, it } from 'vitest';
import { CLOSE_FACTOR, renderChart, spreadLabels } from '../../sim/chart';
import type { Series, StrategyName } from '../../sim/types';

/** 0..90 s: ideal admits 10/s; ours is 20 over the ideal during 30-60 s, a far peer goes off by 1000s. */
function series(): Series {
  const timesMs = Array.from({ length: 91 }, (_, i) => 5000 + i * 1000);
  const ideal = timesMs.map((_, i) => 10 * i);
  const ours = ideal.map((v, i) => v + (i >= 30 && i <= 60 ? i - 30 : 0));
  const far = ideal.map((v, i) => v * 3 + i);
  const same = [...ideal];
  return {
    timesMs,
    byStrategy: new Map<StrategyName, number[]>([
      ['exact', ideal],
      ['checkpoint-merge', ours],
      ['independent', far],
      ['static-split', same],
    ]),
  };
}

const svg = () =>
  renderChart('t', 's', series(), [], {
    windows: [{ fromMs: 35_000, toMs: 65_000, label: 'partition: eu-west-1 cut off' }],
  });

describe('renderChart', () => {
  it('shades the partition window in both panels, at its place on the time axis', () => {
    const out = svg();
    const rects = [
      ...out.matchAll(/<rect class="fault-window"[^>]* x="([\d.]+)"[^>]* width="([\d.]+)"/g),
    ];
    expect(rects).toHaveLength(2);
    // The window is 30 s to 60 s of a 90 s chart (times count from its first point, 5 s).
    const [x, width] = [Number(rects[0]?.[1]), Number(rects[0]?.[2])];
    expect(width / (x - 78)).toBeCloseTo(1, 1);
    expect(out).toContain('>partition: eu-west-1 cut off</text>');
  });

  it('fits the main panel to the strategies close to ours and marks the others off scale', () => {
    const out = svg();
    expect(out).toMatch(
      /independent full bucket per region — off scale: \+\d[\d,]* from the ideal at most/,
    );
    expect(out).not.toMatch(/ours: [^<]*off scale/);
    expect(out).toMatch(/>independent ↑\+\d/);
    expect(out).toContain('static split: C/N and R/N per region — same as the ideal throughout');
    // The main panel's top tick is near ours's peak (30 tokens), not the far peer's thousands.
    const mainTicks = [
      ...out.matchAll(/<text x="70" y="[\d.]+" text-anchor="end">([^<]+)<\/text>/g),
    ].map((m) => m[1]);
    expect(mainTicks).toContain('30');
    expect(CLOSE_FACTOR).toBeGreaterThan(1);
  });

  it('labels every line at its right end, and stands alone', () => {
    const out = svg();
    for (const label of ['ideal ±0', 'ours ±0', 'static split ±0'])
      expect(out).toContain(`>${label}</text>`);
    expect(out.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(out.match(/https?:\/\//g)).toEqual(['http://']);
    expect(out).not.toMatch(/href|<image|<script|@import/);
  });
});

describe('spreadLabels', () => {
  it('keeps labels apart and inside the panel, in their order', () => {
    const placed = spreadLabels([100, 101, 102, 300, 10, 399], 14, 20, 400);
    const sorted = [...placed].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++)
      expect(sorted[i]! - sorted[i - 1]!).toBeGreaterThanOrEqual(14);
    expect(Math.min(...placed)).toBeGreaterThanOrEqual(20);
    expect(Math.max(...placed)).toBeLessThanOrEqual(400);
    expect(placed[0]).toBeLessThan(placed[1]!);
    expect(placed[4]).toBe(20);
  });

  it('leaves labels that do not meet where they are', () => {
    expect(spreadLabels([50, 200, 350], 14, 0, 400)).toEqual([50, 200, 350]);
  });
});
