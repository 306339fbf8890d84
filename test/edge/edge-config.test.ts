/**
 * The edge's part of the config (functions/config/edge-config.ts): what it
 * keeps and drops, that it is the same for configs that differ only in what
 * the edge does not read, that it is validated by the rules of the whole
 * config, and that it resolves to what the whole config resolves to.
 */
import { describe, expect, it } from 'vitest';
import {
  EDGE_CONFIG_FIELDS,
  edgeConfigOf,
  validateEdgeConfig,
} from '../../functions/config/edge-config';
import { resolveConfig, resolveEdgeConfig } from '../../functions/config/resolve';
import { InvalidConfigError, type LimiterConfig } from '../../functions/config/schema';
import { Limiter } from '../../functions/limiter/limiter';
import shipped from '../../limiter.config';
import { MemoryStore } from '../limiter/memory-store';

function full(): LimiterConfig {
  return {
    ...structuredClone(shipped),
    account: '123456789012',
    strong: { tableName: 'limiter-strong', regions: ['us-east-1', 'us-east-2', 'us-west-2'] },
    regions: ['us-east-1', 'us-east-2', 'us-west-2', 'eu-west-1'],
    defaultRule: 'everything',
    regionalApi: { auth: 'iam', callers: ['123456789012'] },
    policies: [
      ...shipped.policies.map((p) =>
        p.id === 'demo'
          ? { ...p, watchKeys: ['alice'], apiAccess: { ipKeys: true }, shadow: true }
          : { ...p },
      ),
      { id: 'payments', capacityTokens: 20, refillTokens: 5, consistency: 'strong' },
    ],
    rules: [
      { id: 'payments', match: { path: '/pay/**' }, policy: 'payments', key: [{ ip: true }] },
      ...shipped.rules,
    ],
  };
}

describe('edgeConfigOf', () => {
  it('keeps the fields the edge reads, in a fixed order, and nothing else', () => {
    const config = full();
    const edge = edgeConfigOf(config);
    expect(Object.keys(edge)).toEqual([...EDGE_CONFIG_FIELDS]);
    expect(edge).toMatchObject({
      regions: config.regions,
      tableName: config.tableName,
      strong: config.strong,
      rules: config.rules,
      defaultRule: 'everything',
      runtime: config.runtime,
    });
    for (const dropped of [
      'appName',
      'account',
      'origin',
      'alarms',
      'notifications',
      'regionalApi',
    ]) {
      expect(edge).not.toHaveProperty(dropped);
    }
  });

  it('drops only the regional functions’ fields of a policy', () => {
    const demo = edgeConfigOf(full()).policies.find((p) => p.id === 'demo');
    const { watchKeys: _w, apiAccess: _a, ...rest } = full().policies[0] ?? { id: '' };
    expect(demo).toEqual(rest);
    expect(demo?.shadow).toBe(true);
  });

  it('leaves out optional fields the config does not set', () => {
    const { runtime: _r, ...rest } = structuredClone(shipped);
    expect(Object.keys(edgeConfigOf(rest))).toEqual(['regions', 'tableName', 'policies', 'rules']);
  });

  it('is the same JSON for configs that differ only in what the edge does not read', () => {
    const a = full();
    const b: LimiterConfig = {
      ...a,
      appName: 'Other',
      alarms: { syncLagMs: 9000 },
      notifications: { emails: ['pager@example.org'] },
      regionalApi: { auth: 'none' },
      policies: a.policies.map((p) => ({ ...p, watchKeys: ['x'], apiAccess: { consume: true } })),
    };
    expect(JSON.stringify(edgeConfigOf(b))).toBe(JSON.stringify(edgeConfigOf(a)));
    const c = { ...a, runtime: { ...a.runtime, viewCacheMs: 100 } };
    expect(JSON.stringify(edgeConfigOf(c))).not.toBe(JSON.stringify(edgeConfigOf(a)));
  });
});

describe('validateEdgeConfig', () => {
  it('finds nothing in the edge part of a valid config', () => {
    expect(validateEdgeConfig(edgeConfigOf(full()))).toEqual([]);
  });

  it('reports every problem of the edge fields, with the paths of the whole config', () => {
    const edge = edgeConfigOf(full());
    const broken = {
      ...edge,
      tableName: 'x',
      policies: edge.policies.map((p, i) => (i === 0 ? { ...p, capacityTokens: 0 } : p)),
      rules: edge.rules.map((r, i) =>
        i === 2 ? { ...r, limits: [{ policy: 'nope', key: [{ ip: true as const }] }] } : r,
      ),
      runtime: { storeBudgetMs: 5000 },
    };
    expect(validateEdgeConfig(broken).map((p) => p.path)).toEqual([
      'tableName',
      'policies[0]',
      'rules[1].limits[0].cost',
      'rules[2].limits[0].policy',
      'runtime.storeBudgetMs',
    ]);
  });

  it('is what resolveEdgeConfig refuses, listing every problem', () => {
    const edge = {
      ...edgeConfigOf(structuredClone(shipped)),
      regions: [] as string[],
      tableName: 'x',
    };
    expect(() => resolveEdgeConfig(edge)).toThrow(InvalidConfigError);
    expect(() => resolveEdgeConfig(edge)).toThrow(/2 problems/);
  });
});

describe('resolveEdgeConfig', () => {
  it('resolves what the whole config resolves, for every region', () => {
    const config = full();
    const whole = resolveConfig(config);
    const edge = resolveEdgeConfig(edgeConfigOf(config));
    expect(edge.runtime).toEqual(whole.runtime);
    expect(edge.usesStrong).toBe(true);
    for (const region of ['us-east-1', 'eu-central-1', 'ap-southeast-2', undefined]) {
      expect(edge.replicaFor(region)).toBe(whole.replicaFor(region));
      expect(edge.strongReplicaFor(region)).toBe(whole.strongReplicaFor(region));
    }
    for (const [id, policy] of whole.policies) {
      const { config: _c, watchKeys: _w, allowKeys, denyKeys, ...rest } = policy;
      const resolved = edge.policies.get(id);
      expect(resolved).toMatchObject(rest);
      // The lists match the same keys (each resolve builds its own matcher).
      expect(resolved?.allowKeys.size).toBe(allowKeys.size);
      expect(resolved?.denyKeys.size).toBe(denyKeys.size);
    }
    expect(edge).not.toHaveProperty('alarms');
    expect(edge).not.toHaveProperty('apiAccess');
  });

  it('is enough for a limiter to decide', async () => {
    const edge = resolveEdgeConfig(edgeConfigOf(structuredClone(shipped)));
    const limiter = new Limiter({ config: edge, region: 'us-east-1', store: new MemoryStore() });
    const result = await limiter.limit({ policyId: 'api', key: 'alice', costTokens: 1 });
    expect(result).toMatchObject({ allowed: true, limitTokens: 100, source: 'store' });
  });
});
