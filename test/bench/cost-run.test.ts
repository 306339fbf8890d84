/** The configs the cost part runs: the shipped one on the bench regions, leases and headers as each variant says. */
import { describe, expect, it } from 'vitest';
import { costConfig } from '../../bench/cost-run';
import { COST_VARIANTS } from '../../bench/cost-variants';
import { validateConfig } from '../../functions/config/schema';
import { edgeFunctionRoles, edgeSystemLogLevel } from '../../infra/defaults';
import shipped from '../../limiter.config';

const regions = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];

describe('costConfig', () => {
  it('gives every variant a valid config with its client headers', () => {
    for (const variant of COST_VARIANTS) {
      const config = costConfig(regions, variant);
      expect(validateConfig(config), variant.id).toEqual([]);
      expect(config.clientHeaders).toBe(variant.clientHeaders);
      expect(config.regions).toEqual(regions);
    }
  });

  it('keeps the shipped leases, or removes every one', () => {
    const byId = (id: string) => COST_VARIANTS.find((v) => v.id === id)!;
    expect(costConfig(regions, byId('default')).policies).toEqual(shipped.policies);
    const none = costConfig(regions, byId('no-leases')).policies;
    expect(none.map((p) => p.id)).toEqual(shipped.policies.map((p) => p.id));
    // `false`, not absent: an absent lease is the default one.
    expect(none.every((p) => p.lease === false)).toBe(true);
  });

  it('runs the default first, as shipped: no viewer-response function, system logs at WARN', () => {
    const byId = (id: string) => COST_VARIANTS.find((v) => v.id === id)!;
    expect(COST_VARIANTS.map((v) => v.id)).toEqual([
      'default',
      'headers-on',
      'no-leases',
      'cold-keys',
    ]);
    const shippedDefault = costConfig(regions, byId('default'));
    expect(edgeFunctionRoles(shippedDefault)).toEqual(['viewer-request']);
    expect(edgeSystemLogLevel(shippedDefault)).toBe('WARN');
    // headers-on differs from the default by the viewer-response function only.
    const on = costConfig(regions, byId('headers-on'));
    expect(edgeFunctionRoles(on)).toEqual(['viewer-request', 'viewer-response']);
    expect(edgeSystemLogLevel(on)).toBe('WARN');
    const { clientHeaders: _, ...rest } = on;
    expect(rest).toEqual(shippedDefault);
  });
});
