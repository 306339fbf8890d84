import { describe, expect, it } from 'vitest';
import { measureSeveralLimits, renderSeveralLimits } from '../../bench/several-limits';

describe('bench part "limits": several limits per request against one', () => {
  it('decides the limits side by side: a cold request of four limits waits one round trip, as one limit does', async () => {
    const r = await measureSeveralLimits({ seconds: 5, ratePerSecond: 40 });
    expect(r.policies).toEqual(['api', 'api-monthly', 'api-ip', 'global-cap']);
    const row = (workload: string, limits: number) =>
      r.rows.find((x) => x.workload === workload && x.limits === limits);
    const one = row('cold-keys', 1);
    const four = row('cold-keys', 4);
    expect(one?.admitted).toBe(one?.requests);
    expect(four?.admitted).toBe(four?.requests);
    // Every store call takes one round trip: sequential limits would wait four.
    expect(one?.waitP50Ms).toBe(r.roundTripMs);
    expect(four?.waitP50Ms).toBe(r.roundTripMs);
    // New buckets each cost their own calls: about four times one limit's, never more than twice that.
    expect(four?.storeCallsPerAdmitted).toBeGreaterThan(2.5 * (one?.storeCallsPerAdmitted ?? 0));
    expect(four?.storeCallsPerAdmitted).toBeLessThanOrEqual(8 * (one?.storeCallsPerAdmitted ?? 0));
    // A busy key is served from leases: fewer calls than requests, whatever the limits.
    expect(row('busy-key', 4)?.storeCallsPerAdmitted).toBeLessThan(1);
    expect(renderSeveralLimits(r)).toContain('| cold-keys | 4 |');
  });
});
