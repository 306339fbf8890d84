import { describe, expect, it } from 'vitest';
import { measureSeveralLimits, renderSeveralLimits } from '../../bench/several-limits';

describe('bench part "limits": several limits per request against one', () => {
  it('decides the limits side by side: a cold request of three limits waits one round trip, as one limit does', async () => {
    const r = await measureSeveralLimits({ seconds: 5, ratePerSecond: 40 });
    expect(r.policies).toEqual(['api', 'api-ip', 'global-cap']);
    const row = (workload: string, limits: number) =>
      r.rows.find((x) => x.workload === workload && x.limits === limits);
    const one = row('cold-keys', 1);
    const three = row('cold-keys', 3);
    expect(one?.admitted).toBe(one?.requests);
    expect(three?.admitted).toBe(three?.requests);
    // Every store call takes one round trip: sequential limits would wait three.
    expect(one?.waitP50Ms).toBe(r.roundTripMs);
    expect(three?.waitP50Ms).toBe(r.roundTripMs);
    // New buckets each cost their own calls (the global cap is warm): about twice one limit's.
    expect(three?.storeCallsPerAdmitted).toBeGreaterThan(1.5 * (one?.storeCallsPerAdmitted ?? 0));
    expect(three?.storeCallsPerAdmitted).toBeLessThanOrEqual(6 * (one?.storeCallsPerAdmitted ?? 0));
    // A busy key is served from leases: fewer calls than requests, whatever the limits.
    expect(row('busy-key', 3)?.storeCallsPerAdmitted).toBeLessThan(1);
    expect(renderSeveralLimits(r)).toContain('| cold-keys | 3 |');
  });
});
