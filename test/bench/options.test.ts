import { describe, expect, it } from 'vitest';
import {
  BenchUsageError,
  FULL_SIZES,
  PARTS,
  parseArgs,
  QUICK_SIZES,
  REPORT_DIR,
  SCRATCH_DIR,
} from '../../bench/options';

describe('parseArgs', () => {
  it('runs every part at full size into bench/results by default', () => {
    expect(parseArgs([])).toEqual({
      sizes: FULL_SIZES,
      parts: [...PARTS],
      outDir: REPORT_DIR,
      costOnly: false,
    });
  });

  it('runs the cost part alone with --cost, writing files only when --out is given', () => {
    expect(parseArgs(['--cost'])).toEqual({
      sizes: FULL_SIZES,
      parts: ['cost'],
      outDir: undefined,
      costOnly: true,
    });
    expect(parseArgs(['--cost', '--quick', '--out', 'x'])).toMatchObject({
      sizes: QUICK_SIZES,
      parts: ['cost'],
      outDir: 'x',
    });
  });

  it('writes quick and partial runs to the scratch directory, never over the tracked report', () => {
    expect(parseArgs(['--quick']).outDir).toBe(SCRATCH_DIR);
    expect(parseArgs(['--only', 'decision']).outDir).toBe(SCRATCH_DIR);
    expect(parseArgs(['--only', PARTS.join(',')]).outDir).toBe(REPORT_DIR);
    expect(parseArgs(['--quick', '--out', REPORT_DIR]).outDir).toBe(REPORT_DIR);
    expect(SCRATCH_DIR).not.toBe(REPORT_DIR);
  });

  it('takes --quick, --only and --out', () => {
    const args = parseArgs(['--quick', '--only', 'scale,decision', '--out', 'x']);
    expect(args.sizes).toBe(QUICK_SIZES);
    expect(args.parts).toEqual(['decision', 'scale']);
    expect(args.outDir).toBe('x');
  });

  it('rejects unknown flags and parts, naming what is accepted', () => {
    expect(() => parseArgs(['--fast'])).toThrow(BenchUsageError);
    expect(() => parseArgs(['--only', 'decision,nope'])).toThrow(/nope.*parts are/);
    expect(() => parseArgs(['--out'])).toThrow(/needs a value/);
  });

  it('gives autocannon whole seconds (it stops on a one-second tick)', () => {
    for (const sizes of [QUICK_SIZES, FULL_SIZES]) {
      const e = sizes.endToEnd;
      for (const seconds of [
        e.warmupSeconds,
        e.segmentSeconds,
        e.noneSeconds,
        e.equalLoadSegmentSeconds,
      ]) {
        expect(Number.isInteger(seconds)).toBe(true);
      }
    }
  });

  it('measures store traffic over whole lease cycles (30 containers × 10-token leases)', () => {
    for (const sizes of [QUICK_SIZES, FULL_SIZES]) {
      expect(sizes.storeTraffic.measuredDecisions % 300).toBe(0);
    }
  });

  it('keeps every quick size at or below its full size', () => {
    expect(QUICK_SIZES.decisionCost.iterations).toBeLessThanOrEqual(
      FULL_SIZES.decisionCost.iterations,
    );
    expect(QUICK_SIZES.storeTraffic.measuredDecisions).toBeLessThanOrEqual(
      FULL_SIZES.storeTraffic.measuredDecisions,
    );
    expect(QUICK_SIZES.endToEnd.segmentSeconds).toBeLessThanOrEqual(
      FULL_SIZES.endToEnd.segmentSeconds,
    );
    expect(Math.max(...QUICK_SIZES.scale.keyCounts)).toBeLessThanOrEqual(
      Math.max(...FULL_SIZES.scale.keyCounts),
    );
    expect(QUICK_SIZES.cost.measuredMinutes).toBeLessThanOrEqual(FULL_SIZES.cost.measuredMinutes);
    // Leases size themselves to demand: a quick run must see the same per-container rate.
    expect(QUICK_SIZES.cost.requestsPerSecondPerContainer).toBe(
      FULL_SIZES.cost.requestsPerSecondPerContainer,
    );
  });
});
