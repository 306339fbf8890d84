import { describe, expect, it } from 'vitest';
import { estimateCost, type PriceSheet, US_EAST_1_ON_DEMAND } from '../../bench/cost-model';

const prices: PriceSheet = {
  region: 'test-1',
  effectiveDate: '2024-11-01',
  source: 'test',
  writeRequestUnitUsdPerMillion: 1,
  readRequestUnitUsdPerMillion: 0.5,
  replicatedWriteRequestUnitUsdPerMillion: 2,
};

describe('estimateCost', () => {
  it('counts every successful write once per replica and reads once', () => {
    const c = estimateCost(
      {
        decisions: 2000,
        writeCalls: 1000,
        failedConditionalWrites: 0,
        readCalls: 200,
        writeUnits: 1000,
        readUnits: 100,
      },
      3,
      prices,
    );
    expect(c.writesPer1000).toBe(500);
    expect(c.readsPer1000).toBe(100);
    expect(c.wruPer1000).toBe(500);
    expect(c.rruPer1000).toBe(50);
    expect(c.rwruPer1000).toBe(1500);
    // (3000 rWRU × $2 + 100 RRU × $0.5) / 1e6 for 2000 decisions → per million decisions.
    expect(c.usdPerMillionDecisions).toBeCloseTo(((3000 * 2 + 100 * 0.5) / 1e6 / 2000) * 1e6, 12);
  });

  it('bills a write rejected by its condition once, in the receiving region only', () => {
    const c = estimateCost(
      {
        decisions: 1000,
        writeCalls: 0,
        failedConditionalWrites: 10,
        readCalls: 0,
        writeUnits: 0,
        readUnits: 0,
      },
      3,
      prices,
    );
    expect(c.writesPer1000).toBe(10);
    expect(c.wruPer1000).toBe(10);
    expect(c.rwruPer1000).toBe(10);
  });

  it('uses the store-reported units, so a 2 KB write costs 2 WRU per replica', () => {
    const c = estimateCost(
      {
        decisions: 1000,
        writeCalls: 1000,
        failedConditionalWrites: 0,
        readCalls: 0,
        writeUnits: 2000,
        readUnits: 0,
      },
      2,
      prices,
    );
    expect(c.rwruPer1000).toBe(4000);
  });

  it('one admitted request per decision on 3 replicas at us-east-1 prices costs 3 rWRU', () => {
    const c = estimateCost(
      {
        decisions: 1_000_000,
        writeCalls: 1_000_000,
        failedConditionalWrites: 0,
        readCalls: 0,
        writeUnits: 1_000_000,
        readUnits: 0,
      },
      3,
    );
    expect(c.usdPerMillionDecisions).toBeCloseTo(
      3 * US_EAST_1_ON_DEMAND.replicatedWriteRequestUnitUsdPerMillion,
      12,
    );
  });

  it('rejects zero decisions and non-integer replica counts', () => {
    const traffic = {
      decisions: 0,
      writeCalls: 0,
      failedConditionalWrites: 0,
      readCalls: 0,
      writeUnits: 0,
      readUnits: 0,
    };
    expect(() => estimateCost(traffic, 3)).toThrow(RangeError);
    expect(() => estimateCost({ ...traffic, decisions: 1 }, 0)).toThrow(RangeError);
    expect(() => estimateCost({ ...traffic, decisions: 1 }, 1.5)).toThrow(RangeError);
  });

  it('states a dated price sheet', () => {
    expect(US_EAST_1_ON_DEMAND.effectiveDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(US_EAST_1_ON_DEMAND.source.length).toBeGreaterThan(20);
  });
});
