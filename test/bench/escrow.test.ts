import { describe, expect, it } from 'vitest';
import {
  type EscrowBenchResult,
  exactAdmissions,
  measureEscrow,
  renderEscrow,
  worstWindowExcessTokens,
} from '../../bench/escrow';
import { renderReport } from '../../bench/report';
import { report as baseReport } from './fixtures';

const SIZES = { seconds: 3, cutRunSeconds: 20, cutSeconds: 6 } as const;

let measured: Promise<EscrowBenchResult> | undefined;
/** One run shared by the tests (a second of this machine's time). */
function result(): Promise<EscrowBenchResult> {
  measured ??= measureEscrow(SIZES);
  return measured;
}

function row(r: EscrowBenchResult, workload: string, consistency: string) {
  const found = r.rows.find((x) => x.workload === workload && x.consistency === consistency);
  if (found === undefined) throw new Error(`no row ${workload} ${consistency}`);
  return found;
}

function cutRow(r: EscrowBenchResult, consistency: string) {
  const found = r.cut.rows.find((x) => x.consistency === consistency);
  if (found === undefined) throw new Error(`no cut row ${consistency}`);
  return found;
}

describe('bench part "escrow": escrow beside eventual', () => {
  it('admits a cold key of escrow with exactly one write and one round trip, reading nothing', async () => {
    const r = await result();
    const cold = row(r, 'cold-keys', 'escrow');
    expect(cold.admitted).toBe(cold.requests);
    expect(cold.writesPerAdmitted).toBe(1);
    expect(cold.reads).toBe(0);
    expect(cold.waitP50Ms).toBe(r.roundTripMs);
    expect(cold.waitP99Ms).toBe(r.roundTripMs);
    expect(cold.fallbacks).toBe(0);
  });

  it("serves escrow's busy key from leases carved out of the region's rights, and only the background reads", async () => {
    const r = await result();
    const busy = row(r, 'busy-key', 'escrow');
    expect(busy.admitted).toBe(busy.requests);
    // A lease's write serves the next requests from memory: far fewer writes than admissions.
    expect(busy.writesPerAdmitted).toBeLessThan(0.5);
    expect(busy.waitP50Ms).toBe(0);
    // At most one background read per rebalance interval of the run.
    expect(busy.reads).toBeGreaterThan(0);
    expect(busy.reads).toBeLessThanOrEqual((SIZES.seconds * 1000) / r.rebalanceMs + 1);
    expect(busy.readsPerAdmitted).toBeLessThan(0.1);
    expect(busy.storeCalls).toBe(busy.reads + busy.writes);
    // Eventual's busy key is served from leases: fewer calls than admissions.
    expect(row(r, 'busy-key', 'eventual').storeCallsPerAdmitted).toBeLessThan(1);
  });

  it('refuses escrow requests above the region share without a store call of their own', async () => {
    const r = await result();
    const over = row(r, 'over-demand', 'escrow');
    expect(over.refused).toBeGreaterThan(over.admitted);
    expect(over.writesDuringRefused).toBe(0);
    // Anything started during a refusal is the background read it set off.
    expect(over.callsDuringRefused).toBeLessThanOrEqual(over.reads);
    // Every call is an admission's write or a background tick (one read, at most one write).
    expect(over.writes - over.admitted).toBeLessThanOrEqual(over.reads);
    expect(over.storeCalls).toBeLessThan(over.admitted + 2 * over.reads + 1);
    // Its region's share of 300 tokens and 150 a second: 100 + 50 per second, 10 tokens a request.
    const share =
      (r.callsPolicy.capacityTokens + r.callsPolicy.refillTokensPerSecond * SIZES.seconds) / 3;
    expect(over.admitted * r.rates.overDemandCostTokens).toBeLessThanOrEqual(share);
    // Eventual holds the whole bucket's level in one region: it admits more.
    expect(row(r, 'over-demand', 'eventual').admitted).toBeGreaterThan(over.admitted);
  });

  it('keeps escrow within the exact bucket through a cut, where eventual is over it', async () => {
    const r = await result();
    const escrow = cutRow(r, 'escrow');
    const eventual = cutRow(r, 'eventual');
    expect(escrow.worstWindowExcessTokens).toBe(0);
    expect(eventual.worstWindowExcessTokens).toBeGreaterThan(0);
    expect(escrow.ideal).toBe(eventual.ideal);
    // Under-admission is escrow's price, small under a steady load.
    expect(escrow.admittedPercentOfIdeal).toBeGreaterThan(90);
    expect(escrow.admittedPercentOfIdeal).toBeLessThanOrEqual(100);
    expect(Object.values(escrow.admittedByRegion).reduce((a, b) => a + b, 0)).toBe(escrow.admitted);
  });

  it('renders both tables, and the report carries the section', async () => {
    const r = await result();
    const md = renderEscrow(r);
    expect(md).toContain('### Store calls and latency');
    expect(md).toContain('| cold-keys | escrow |');
    expect(md).toContain('| over-demand | eventual |');
    expect(md).toContain('### A cut (3 regions)');
    expect(md).toMatch(/\| escrow \| \d+ \| \d+ \| \d+ \| [\d.]+ % \| 0\.0 \|/);
    expect(renderReport({ ...baseReport(), escrow: r })).toContain('## Escrow beside eventual');
  });
});

describe('sizes of the part', () => {
  it('names every bad size at once', async () => {
    await expect(measureEscrow({ seconds: 0, cutRunSeconds: 10, cutSeconds: 10 })).rejects.toThrow(
      /seconds must be .*got 0.*cutSeconds \(10\) must be shorter than cutRunSeconds \(10\)/,
    );
  });
});

describe('the arithmetic of the cut table', () => {
  const bucket = { capacityTokens: 2, refillTokensPerSecond: 1 };

  it('the exact bucket admits its capacity at once, then its refill', () => {
    expect(exactAdmissions([0, 0, 0, 500, 1000, 1000], bucket)).toBe(3);
    expect(exactAdmissions([1000, 0, 0, 0], bucket)).toBe(3);
  });

  it('the worst window counts admissions beyond C + R·|W|, and 0 within it', () => {
    expect(worstWindowExcessTokens([0, 0, 1000], bucket)).toBe(0);
    expect(worstWindowExcessTokens([0, 0, 0, 0], bucket)).toBe(2);
    expect(worstWindowExcessTokens([0, 0, 500, 500], bucket)).toBeCloseTo(1.5);
    expect(worstWindowExcessTokens([], bucket)).toBe(0);
  });
});
