/**
 * The network model: symmetric links, the same region nearest, nothing below
 * the fibre bound, samples that match the figures they are drawn from, loss
 * that costs a retransmission timeout, and clear errors for bad input.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nearestReplica, REGION_LOCATIONS } from '../../functions/edge/region-map';
import { measuredPairs } from '../../sim/network/import-cloudping';
import {
  DYNAMODB_SERVICE,
  fibreLowerBoundMs,
  knownRegions,
  LIKELY_REPLICA_REGIONS,
  type LinkModel,
  linkBetween,
  normalQuantile,
  pathStretchFit,
  REGIONAL_EDGE_CACHE_REGIONS,
  retransmissionTimeoutMs,
  sampleRoundTripMs,
  storeRoundTrip,
  TCP_MIN_RTO_MS,
  UnknownRegionError,
} from '../../sim/network/model';
import { MEASURED_RTT_MS } from '../../sim/network/rtt-data';
import { mulberry32 } from '../../sim/prng';

const DEFAULT_REPLICAS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];

/** Regions with a location but no measurement: their links are estimated. */
const UNMEASURED = Object.keys(REGION_LOCATIONS).filter(
  (r) => MEASURED_RTT_MS[`${r}|${r}`] === undefined,
);

function samples(link: LinkModel, n: number, seed: number): number[] {
  const random = mulberry32(seed);
  return Array.from({ length: n }, () => sampleRoundTripMs(link, random)).sort((a, b) => a - b);
}

const at = (sorted: readonly number[], q: number) => sorted[Math.floor(q * (sorted.length - 1))]!;

/** A stream that returns the given numbers in turn. */
function scripted(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('network model: links', () => {
  const regions = knownRegions();

  it('measures every edge region to every likely replica region', () => {
    const unmeasured = REGIONAL_EDGE_CACHE_REGIONS.flatMap((edge) =>
      LIKELY_REPLICA_REGIONS.filter((replica) => linkBetween(edge, replica).estimated).map(
        (replica) => `${edge}→${replica}`,
      ),
    );
    expect(unmeasured).toEqual([]);
  });

  it('estimates the regions without a measurement, and only those', () => {
    expect(UNMEASURED.length).toBeGreaterThan(0);
    for (const r of UNMEASURED) {
      expect(linkBetween(r, 'us-east-1').estimated).toBe(true);
      expect(linkBetween(r, r).estimated).toBe(true);
    }
    expect(linkBetween('sa-east-1', 'us-east-1').estimated).toBe(false);
  });

  it('is symmetric', () => {
    fc.assert(
      fc.property(fc.constantFrom(...regions), fc.constantFrom(...regions), (a, b) => {
        expect(linkBetween(a, b)).toEqual(linkBetween(b, a));
        expect(storeRoundTrip(a, b)).toEqual(storeRoundTrip(b, a));
      }),
      { numRuns: 300 },
    );
  });

  it('makes a region to itself its smallest round trip', () => {
    for (const r of regions) {
      const same = linkBetween(r, r).medianMs;
      const nearerElsewhere = regions.filter((o) => o !== r && linkBetween(r, o).medianMs <= same);
      expect(nearerElsewhere, r).toEqual([]);
    }
  });

  it('never puts a median, a p99 or a floor below the fibre lower bound', () => {
    for (const [i, a] of regions.entries()) {
      for (const b of regions.slice(i)) {
        const link = linkBetween(a, b);
        const bound = fibreLowerBoundMs(a, b);
        expect(link.floorMs).toBe(bound);
        expect(link.medianMs, `${a}→${b}`).toBeGreaterThanOrEqual(bound);
        expect(link.p99Ms, `${a}→${b}`).toBeGreaterThanOrEqual(link.medianMs);
      }
    }
  });

  it('grows the fibre bound with distance: across an ocean it is tens of ms', () => {
    expect(fibreLowerBoundMs('us-east-1', 'us-east-1')).toBe(0);
    expect(fibreLowerBoundMs('eu-west-1', 'eu-west-2')).toBeLessThan(
      fibreLowerBoundMs('eu-west-1', 'us-east-1'),
    );
    expect(fibreLowerBoundMs('eu-west-1', 'us-east-1')).toBeGreaterThan(40);
    expect(fibreLowerBoundMs('eu-west-1', 'ap-southeast-2')).toBeGreaterThan(150);
  });

  it('puts the default replicas at the distances the brief expects from the far edges', () => {
    // São Paulo and Sydney are 60–180 ms from their nearest default replica.
    for (const edge of ['sa-east-1', 'ap-southeast-2']) {
      const link = linkBetween(edge, nearestReplica(edge, DEFAULT_REPLICAS));
      expect(link.medianMs, edge).toBeGreaterThan(60);
      expect(link.medianMs, edge).toBeLessThan(180);
    }
  });
});

describe('network model: the distance fit', () => {
  const fit = pathStretchFit();

  it('stretches paths beyond the great circle and fits the measured pairs to within tens of percent', () => {
    expect(fit.pairs).toBeGreaterThan(100);
    expect(fit.stretch).toBeGreaterThan(1);
    expect(fit.overheadMs).toBeGreaterThanOrEqual(0);
    expect(fit.medianRelativeError).toBeLessThan(0.25);
    expect(fit.p90RelativeError).toBeLessThan(0.6);
  });

  it('estimates an unmeasured pair from its fibre bound', () => {
    const region = UNMEASURED.find((r) => r !== 'us-east-1')!;
    const link = linkBetween(region, 'us-east-1');
    const bound = fibreLowerBoundMs(region, 'us-east-1');
    expect(link.medianMs).toBeCloseTo(Math.max(bound, fit.overheadMs + fit.stretch * bound), 9);
    expect(link.source).toMatch(/^estimated/);
  });
});

describe('network model: samples', () => {
  const links: [string, LinkModel][] = [
    ['same region', linkBetween('us-east-1', 'us-east-1')],
    ['transatlantic', linkBetween('eu-west-1', 'us-east-1')],
    ['São Paulo to its replica', linkBetween('sa-east-1', 'us-east-1')],
    ['estimated', linkBetween(UNMEASURED[0]!, 'ap-southeast-2')],
    ['store round trip', storeRoundTrip('ap-southeast-2', 'ap-southeast-1')],
  ];

  it.each(links)(
    '%s: the sampled median and p99 are the model’s, within a few percent',
    (_, link) => {
      const sorted = samples(link, 200_000, 7);
      expect(Math.abs(at(sorted, 0.5) / link.medianMs - 1)).toBeLessThan(0.02);
      expect(Math.abs(at(sorted, 0.99) / link.p99Ms - 1)).toBeLessThan(0.03);
    },
  );

  it('never samples below the floor', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...links.map(([, l]) => l)),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (link, seed) => {
          for (const s of samples(link, 200, seed)) expect(s).toBeGreaterThanOrEqual(link.floorMs);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('adds at least the retransmission timeout to a round trip that loses a packet', () => {
    const link = linkBetween('ap-south-1', 'ap-southeast-1');
    const kept = sampleRoundTripMs(link, scripted(0.5, 0.999_999));
    const lost = sampleRoundTripMs(link, scripted(0.5, 0));
    expect(lost - kept).toBe(retransmissionTimeoutMs(link));
    expect(retransmissionTimeoutMs(link)).toBeGreaterThanOrEqual(link.medianMs + TCP_MIN_RTO_MS);
  });

  it('loses the link’s share of round trips', () => {
    const link: LinkModel = { ...linkBetween('us-east-1', 'us-east-2'), lossRate: 0.1 };
    const sorted = samples(link, 100_000, 3);
    const lossy = sorted.filter((s) => s >= link.medianMs + TCP_MIN_RTO_MS).length / sorted.length;
    expect(Math.abs(lossy - 0.1)).toBeLessThan(0.01);
  });

  it('draws exactly two numbers per sample, so a seed gives the same samples', () => {
    let calls = 0;
    const random = mulberry32(11);
    const counting = () => {
      calls++;
      return random();
    };
    const link = linkBetween('eu-central-1', 'eu-west-1');
    for (let i = 0; i < 10; i++) sampleRoundTripMs(link, counting);
    expect(calls).toBe(20);
    expect(samples(link, 50, 5)).toEqual(samples(link, 50, 5));
  });
});

describe('network model: the store round trip', () => {
  it('adds DynamoDB’s service time to the network round trip', () => {
    for (const edge of REGIONAL_EDGE_CACHE_REGIONS) {
      const replica = nearestReplica(edge, DEFAULT_REPLICAS);
      const link = linkBetween(edge, replica);
      const store = storeRoundTrip(edge, replica);
      expect(store.medianMs).toBeCloseTo(link.medianMs + DYNAMODB_SERVICE.medianMs, 9);
      expect(store.p99Ms).toBeGreaterThan(link.p99Ms);
      expect(store.p99Ms - store.medianMs).toBeGreaterThanOrEqual(
        DYNAMODB_SERVICE.p99Ms - DYNAMODB_SERVICE.medianMs,
      );
      expect(store.p99Ms).toBeLessThanOrEqual(link.p99Ms + DYNAMODB_SERVICE.p99Ms);
      expect(store.floorMs).toBe(link.floorMs);
      expect(store.source).toContain('DynamoDB service time');
    }
  });
});

describe('network model: bad input', () => {
  it('names an unknown region and what it knows', () => {
    expect(() => linkBetween('us-east-1', 'mars-north-1')).toThrow(UnknownRegionError);
    expect(() => linkBetween('mars-north-1', 'us-east-1')).toThrow(/'mars-north-1'/);
    expect(() => storeRoundTrip('us-east-1', 'EU-WEST-1')).toThrow(
      /unknown AWS region 'EU-WEST-1'.*us-east-1/,
    );
    expect(() => fibreLowerBoundMs('', 'us-east-1')).toThrow(UnknownRegionError);
  });

  it('rejects an invalid link with every problem at once', () => {
    const bad: LinkModel = {
      medianMs: -1,
      p99Ms: Number.NaN,
      lossRate: 2,
      estimated: false,
      source: 'test',
      floorMs: -3,
    };
    expect(() => sampleRoundTripMs(bad, Math.random)).toThrow(
      /medianMs must be.*p99Ms must be.*lossRate must be.*floorMs must be/,
    );
  });

  it('rejects a random stream outside [0, 1)', () => {
    const link = linkBetween('us-east-1', 'us-west-2');
    expect(() => sampleRoundTripMs(link, () => 1)).toThrow(/random\(\) must return/);
    expect(() => sampleRoundTripMs(link, () => Number.NaN)).toThrow(RangeError);
  });
});

describe('network model: helpers', () => {
  it('computes normal quantiles', () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963985, 7);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326347874, 7);
    expect(normalQuantile(0)).toBeLessThan(-7);
  });

  it('imports cloudping matrices symmetric, and skips pairs missing a direction', () => {
    const p50 = { data: { a: { a: 2, b: 10 }, b: { a: 12, b: 3 }, c: { a: 50 } } };
    const p90 = { data: { a: { a: 4, b: 11 }, b: { a: 13, b: 5 }, c: { a: 60 } } };
    expect(measuredPairs(p50, p90)).toEqual({
      'a|a': [2, 4],
      'a|b': [11, 12],
      'b|b': [3, 5],
    });
  });
});
