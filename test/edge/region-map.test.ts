import { describe, expect, it } from 'vitest';
import {
  NETWORK_HUBS,
  nearestReplica,
  REGION_LOCATIONS,
  regionDistanceKm,
  replicaMap,
} from '../../functions/edge/region-map';

const configured = ['us-east-1', 'eu-west-1', 'ap-southeast-1'] as const;

describe('nearestReplica', () => {
  it.each([
    ['us-east-1', 'us-east-1'],
    ['eu-west-1', 'eu-west-1'],
    ['us-east-2', 'us-east-1'],
    ['us-west-2', 'us-east-1'],
    ['ca-central-1', 'us-east-1'],
    ['sa-east-1', 'us-east-1'],
    ['eu-central-1', 'eu-west-1'],
    ['eu-west-2', 'eu-west-1'],
    ['eu-north-1', 'eu-west-1'],
    ['af-south-1', 'eu-west-1'],
    ['ap-south-1', 'ap-southeast-1'],
    ['ap-northeast-1', 'ap-southeast-1'],
    ['ap-southeast-2', 'ap-southeast-1'],
  ])('%s → %s', (running, expected) => {
    expect(nearestReplica(running, configured)).toBe(expected);
  });

  it('measures hub regions from where their traffic lands, unless they are replicas', () => {
    expect(nearestReplica('af-south-1', ['ap-southeast-1', 'eu-west-1'])).toBe('eu-west-1');
    expect(nearestReplica('af-south-1', ['ap-southeast-1', 'af-south-1'])).toBe('af-south-1');
  });

  it('prefers the region itself when it is a replica', () => {
    expect(nearestReplica('us-west-2', ['us-east-1', 'us-west-2'])).toBe('us-west-2');
  });

  it('falls back to the first configured region for unknown or missing regions', () => {
    expect(nearestReplica('xx-nowhere-9', configured)).toBe('us-east-1');
    expect(nearestReplica(undefined, ['eu-west-1', 'us-east-1'])).toBe('eu-west-1');
  });

  it('breaks ties by config order', () => {
    // us-east-2 and us-gov-east-1 share a location in the table.
    expect(nearestReplica('us-east-1', ['us-east-2', 'us-gov-east-1'])).toBe('us-east-2');
    expect(nearestReplica('us-east-1', ['us-gov-east-1', 'us-east-2'])).toBe('us-gov-east-1');
  });

  it('refuses an empty region list', () => {
    expect(() => nearestReplica('us-east-1', [])).toThrow(RangeError);
  });
});

describe('replicaMap', () => {
  it('maps every known region to a configured one, and each replica to itself', () => {
    const map = replicaMap(configured);
    expect(Object.keys(map).sort()).toEqual(Object.keys(REGION_LOCATIONS).sort());
    for (const [region, replica] of Object.entries(map)) {
      expect(configured).toContain(replica);
      const from = NETWORK_HUBS[region] ?? region;
      const chosen = regionDistanceKm(from, replica)!;
      for (const other of configured)
        expect(chosen).toBeLessThanOrEqual(regionDistanceKm(from, other)!);
    }
    for (const replica of configured) expect(map[replica]).toBe(replica);
  });
});

describe('regionDistanceKm', () => {
  it('is symmetric, zero on the diagonal, and roughly right for a known pair', () => {
    expect(regionDistanceKm('eu-west-1', 'eu-west-1')).toBe(0);
    expect(regionDistanceKm('us-east-1', 'eu-west-1')).toBeCloseTo(
      regionDistanceKm('eu-west-1', 'us-east-1')!,
      6,
    );
    // Dublin to Northern Virginia is about 5,500 km.
    expect(regionDistanceKm('us-east-1', 'eu-west-1')).toBeGreaterThan(5200);
    expect(regionDistanceKm('us-east-1', 'eu-west-1')).toBeLessThan(5800);
    expect(regionDistanceKm('us-east-1', 'mars-1')).toBeUndefined();
  });
});
