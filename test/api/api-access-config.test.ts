/**
 * `policies[].apiAccess`: its defaults (resolve.ts, the one place they live)
 * and its validation, which reports every problem at once.
 */
import { describe, expect, it } from 'vitest';
import {
  defaultMaxCostPerCall,
  resolveApiAccess,
  resolveConfig,
} from '../../functions/config/resolve';
import { type PolicyConfig, type RuleConfig, validateConfig } from '../../functions/config/schema';
import { configWith } from '../limiter/fixtures';

const policy: PolicyConfig = { id: 'p', capacityTokens: 250, refillTokens: 10 };

const ruleKeyed = (key: RuleConfig['key'], id = 'r'): RuleConfig => ({
  id,
  match: { path: '/**' },
  policy: 'p',
  key,
});

describe('resolveApiAccess defaults', () => {
  it.each<[string, RuleConfig['key']]>([
    ['a header', [{ header: 'x-api-key' }]],
    ['a query parameter', [{ query: 'key' }]],
    ['a JWT claim', [{ jwtClaim: 'sub' }]],
    ['the IP', [{ ip: true }]],
    ['a constant and a header', [{ constant: 'tenant' }, { header: 'x-api-key' }]],
  ])('consumes a policy keyed by %s', (_label, key) => {
    expect(resolveApiAccess(policy, [ruleKeyed(key)])).toEqual({
      consume: true,
      consumeBasis: 'per-caller-keys',
      maxCostPerCall: 25,
      ipKeys: false,
    });
  });

  it('does not consume a policy keyed by constants only, and names the rule', () => {
    const rules = [
      ruleKeyed([{ header: 'x-api-key' }], 'a'),
      ruleKeyed([{ constant: 'all' }], 'b'),
    ];
    expect(resolveApiAccess(policy, rules)).toMatchObject({
      consume: false,
      consumeBasis: 'shared-keys',
      sharedByRule: 'b',
    });
  });

  it('does not consume a policy no rule uses (rules of other policies do not count)', () => {
    const other = { ...ruleKeyed([{ header: 'x-api-key' }]), policy: 'other' };
    expect(resolveApiAccess(policy, [other])).toMatchObject({
      consume: false,
      consumeBasis: 'no-rule',
    });
  });

  it('takes what the policy configures over every default', () => {
    const configured = {
      ...policy,
      apiAccess: { consume: true, maxCostPerCall: 250, ipKeys: true },
    };
    expect(resolveApiAccess(configured, [ruleKeyed([{ constant: 'all' }])])).toEqual({
      consume: true,
      consumeBasis: 'configured',
      sharedByRule: 'r',
      maxCostPerCall: 250,
      ipKeys: true,
    });
  });

  it('bounds a call to a tenth of capacity, rounded down, at least 1', () => {
    expect([1, 9, 10, 19, 100, 5000].map(defaultMaxCostPerCall)).toEqual([1, 1, 1, 1, 10, 500]);
  });

  it('is resolved per policy in the resolved config', () => {
    const config = configWith(
      [policy, { ...policy, id: 'q' }],
      {},
      {
        rules: [ruleKeyed([{ header: 'x-api-key' }])],
      },
    );
    const access = resolveConfig(config).apiAccess;
    expect(access.get('p')?.consume).toBe(true);
    expect(access.get('q')?.consume).toBe(false);
  });
});

describe('apiAccess validation', () => {
  const base = configWith([policy], {}, { rules: [ruleKeyed([{ header: 'x-api-key' }])] });
  const withAccess = (apiAccess: unknown) =>
    validateConfig({
      ...base,
      policies: [{ ...policy, apiAccess: apiAccess as PolicyConfig['apiAccess'] }],
    });

  it('accepts a complete block', () => {
    expect(withAccess({ consume: false, maxCostPerCall: 250, ipKeys: true })).toEqual([]);
  });

  it('reports every problem at once', () => {
    expect(withAccess({ consume: 'yes', maxCostPerCall: 251, ipKeys: 1, maxCost: 5 })).toEqual([
      { path: 'policies[0].apiAccess.maxCost', message: expect.stringMatching(/unknown field/) },
      { path: 'policies[0].apiAccess.consume', message: 'must be true or false (got "yes")' },
      { path: 'policies[0].apiAccess.ipKeys', message: 'must be true or false (got 1)' },
      {
        path: 'policies[0].apiAccess.maxCostPerCall',
        message: "251 exceeds the policy's capacity 250: no call could take it",
      },
    ]);
  });

  it.each([0, -1, 1.5, '10'])('refuses maxCostPerCall %j', (value) => {
    expect(withAccess({ maxCostPerCall: value })).toEqual([
      {
        path: 'policies[0].apiAccess.maxCostPerCall',
        message: `must be a positive integer (got ${JSON.stringify(value)})`,
      },
    ]);
  });

  it('refuses a block that is not an object', () => {
    expect(withAccess(true)).toEqual([
      { path: 'policies[0].apiAccess', message: expect.stringMatching(/must be an object/) },
    ]);
  });
});
