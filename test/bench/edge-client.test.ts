import { describe, expect, it } from 'vitest';
import {
  type EdgeClientRound,
  edgeClientFiguresOf,
  edgeClientFloorsOf,
  latencyAtMemoryMs,
  moduleLoadOf,
} from '../../bench/edge-client';
import type { BundleSize } from '../../functions/edge/measure-bundle';

function round(
  transport: EdgeClientRound['transport'],
  cpuMicrosPerDecision: number,
  extra: Partial<EdgeClientRound> = {},
): EdgeClientRound {
  return {
    transport,
    decisions: 10,
    admitted: 10,
    cpuMicros: 10 * cpuMicrosPerDecision,
    wallMicros: 10 * 2 * cpuMicrosPerDecision,
    storeCalls: 20,
    fallbacks: 0,
    ...extra,
  };
}

describe('edgeClientFiguresOf', () => {
  it('takes each client’s median round, and their ratio', () => {
    const figures = edgeClientFiguresOf([
      round('sdk', 900),
      round('light', 300),
      round('light', 310),
      round('sdk', 1000),
      round('sdk', 2000),
      round('light', 600),
    ]);
    expect(figures.variants.sdk.cpuMicrosPerDecision).toEqual([900, 1000, 2000]);
    expect(figures.variants.sdk.medianCpuMicrosPerDecision).toBe(1000);
    expect(figures.variants.light.medianCpuMicrosPerDecision).toBe(310);
    expect(figures.cpuRatio).toBeCloseTo(0.31, 10);
    // Paired in run order: 300/900, 310/1000, 600/2000.
    expect(figures.cpuRatioRange[0]).toBeCloseTo(0.3, 10);
    expect(figures.cpuRatioRange[1]).toBeCloseTo(1 / 3, 10);
    expect(figures.variants.light.storeCallsPerDecision).toBe(2);
    expect(figures.variants.light.medianWallMicrosPerDecision).toBe(620);
  });

  it('turns CPU time into latency at 128 MB (× 1769/128)', () => {
    expect(latencyAtMemoryMs(128)).toBeCloseTo(1.769, 10);
    expect(latencyAtMemoryMs(1000, 1769)).toBeCloseTo(1, 10);
    const figures = edgeClientFiguresOf([round('sdk', 1280), round('light', 256)]);
    expect(figures.variants.sdk.latencyAt128MbMs).toBeCloseTo(17.69, 10);
    expect(figures.variants.light.latencyAt128MbMs).toBeCloseTo(3.538, 10);
  });

  it('counts fallbacks and refusals instead of hiding them', () => {
    const figures = edgeClientFiguresOf([
      round('sdk', 100),
      round('light', 50, { admitted: 8, fallbacks: 2 }),
    ]);
    expect(figures.variants.light.admittedShare).toBe(0.8);
    expect(figures.variants.light.fallbacks).toBe(2);
  });

  it('refuses rounds it cannot turn into figures', () => {
    expect(() => edgeClientFiguresOf([round('sdk', 100)])).toThrow(/light/);
    expect(() =>
      edgeClientFiguresOf([round('sdk', 100), round('light', 50, { decisions: 0 })]),
    ).toThrow(RangeError);
  });
});

describe('edgeClientFloorsOf', () => {
  it('sets each floor beside the SDK client of the same rounds, and leaves out floors not measured', () => {
    const floors = edgeClientFloorsOf([
      round('sdk', 800),
      round('light', 260),
      round('node-http-unsigned', 200),
      round('sdk', 1000),
      round('light', 300),
      round('node-http-unsigned', 240, { admitted: 9 }),
      round('sdk', 900),
      round('node-http-unsigned', 180),
    ]);
    expect(floors.map((f) => f.name)).toEqual(['node-http-unsigned']);
    expect(floors[0]!.medianCpuMicrosPerDecision).toBe(200);
    expect(floors[0]!.ratioToSdk).toBeCloseTo(200 / 900, 10);
    expect(floors[0]!.storeCallsPerDecision).toBe(2);
    expect(floors[0]!.admittedShare).toBeCloseTo(29 / 30, 10);
  });

  it('needs the SDK client’s rounds to compare with', () => {
    expect(() => edgeClientFloorsOf([round('socket-unsigned', 100)])).toThrow(/sdk/);
  });
});

describe('moduleLoadOf', () => {
  const size = (bytes: number, zipBytes: number | undefined): BundleSize => ({
    name: 'edge',
    bytes,
    deflatedBytes: bytes / 2,
    zipBytes,
  });

  it('compares the two viewer-request bundles, zipped and loaded', () => {
    const m = moduleLoadOf(
      {
        sizes: [size(100_000, 30_000), { ...size(2000, 1000), name: 'edge-response' }],
        sdkSize: size(400_000, 120_000),
        coldStart: {
          light: { requireMs: [9, 10, 30], initMs: [3, 3, 4] },
          sdk: { requireMs: [40, 60, 50], initMs: [5, 4, 4] },
        },
      },
      3,
    );
    expect(m.zippedBytes).toEqual({ light: 30_000, sdk: 120_000 });
    expect(m.zippedRatio).toBe(0.25);
    expect(m.requireMsMedian).toEqual({ light: 10, sdk: 50 });
    expect(m.requireRatio).toBe(0.2);
    expect(m.initMsMedian).toEqual({ light: 3, sdk: 4 });
  });

  it('falls back to the deflated size without the zip tool', () => {
    const m = moduleLoadOf(
      {
        sizes: [size(100_000, undefined)],
        sdkSize: size(400_000, undefined),
        coldStart: {
          light: { requireMs: [1], initMs: [1] },
          sdk: { requireMs: [2], initMs: [1] },
        },
      },
      1,
    );
    expect(m.zippedBytes).toEqual({ light: 50_000, sdk: 200_000 });
  });
});
