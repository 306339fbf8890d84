/**
 * The edge simulator (`npm run simulate -- --edge`): the world it builds
 * around the real limiter (frozen containers, connection set-up, the
 * per-partition write limit), the figures it reports, and its flags. Every
 * run is in virtual time; figures are asserted as bounds and relations, not
 * as exact values a change of the model would move.
 */

import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../functions/config/resolve';
import type { LimitConfig, LimiterConfig, PolicyConfig } from '../../functions/config/schema';
import { StoreError } from '../../functions/store/types';
import { config as shippedConfig } from '../../limiter.config';
import { CliUsageError, DEFAULT_EDGE_CONFIG, formatEdgeTable, parseArgs } from '../../sim/cli';
import { compareReplicaSets, formatReplicaSets, REPLICA_SETS } from '../../sim/edge/replicas';
import {
  companionLimits,
  EDGE_WORKLOADS,
  runEdgeWorkload,
  workloadPolicies,
  worstOverAdmission,
} from '../../sim/edge/run';
import { EdgeWorld, PARTITION_WRITE_UNITS_PER_SECOND } from '../../sim/edge/world';
import { linkBetween, REGIONAL_EDGE_CACHE_REGIONS } from '../../sim/network/model';

const config: LimiterConfig = {
  appName: 'EdgeSimTest',
  account: '111111111111',
  tableName: 'edge-sim-test',
  origin: { domainName: 'api.example.com' },
  regions: ['us-east-1', 'eu-west-1', 'ap-southeast-1'],
  policies: [
    { id: 'per-client', capacityTokens: 100, refillTokens: 50 },
    { id: 'cap', capacityTokens: 2000, refillTokens: 1000 },
  ],
  rules: [
    { id: 'clients', match: {}, policy: 'per-client', key: [{ header: 'x-api-key' }] },
    { id: 'all', match: {}, policy: 'cap', key: [{ constant: 'all' }] },
  ],
};

/**
 * `config` whose per-client rule also charges the viewer's IP bucket (policy
 * `per-ip`, sized by `ip`), then the limits of `more`.
 */
function withIpLimit(
  ip: Pick<PolicyConfig, 'capacityTokens' | 'refillTokens' | 'refillIntervalMs'>,
  more: LimitConfig[] = [],
): LimiterConfig {
  return {
    ...config,
    policies: [...config.policies, { id: 'per-ip', ...ip }],
    rules: [
      {
        id: 'clients',
        match: {},
        limits: [
          { policy: 'per-client', key: [{ header: 'x-api-key' }] },
          { policy: 'per-ip', key: [{ ip: true }] },
          ...more,
        ],
      },
      { id: 'all', match: {}, policy: 'cap', key: [{ constant: 'all' }] },
    ],
  };
}

describe('edge simulator: the world', () => {
  it("a new container's first store call also opens the connection; later calls do not", async () => {
    const world = new EdgeWorld({
      config: resolveConfig(config),
      edgeRegions: ['sa-east-1'],
      seed: 3,
    });
    const rtt = linkBetween('sa-east-1', world.replicaOf('sa-east-1')).floorMs;
    const first = await world.time.run(world.request('sa-east-1', 'per-client', 'a', 1));
    await world.time.advance(1000);
    const second = await world.time.run(world.request('sa-east-1', 'per-client', 'b', 1));
    expect(first).toMatchObject({ allowed: true, coldStart: true, waitedForStore: true });
    expect(second).toMatchObject({ allowed: true, coldStart: false, waitedForStore: true });
    // TCP and TLS handshakes, then the call: three round trips, never less than the link's floor.
    expect(first.addedLatencyMs).toBeGreaterThanOrEqual(3 * rtt);
    expect(second.addedLatencyMs).toBeGreaterThanOrEqual(rtt);
    expect(second.addedLatencyMs).toBeLessThan(first.addedLatencyMs);
    expect(world.containersOf('sa-east-1')).toBe(1);
  });

  it('requests that overlap go to separate containers; an idle one is reused', async () => {
    const world = new EdgeWorld({
      config: resolveConfig(config),
      edgeRegions: ['us-east-1'],
      seed: 1,
    });
    const a = world.request('us-east-1', 'per-client', 'x', 1);
    const b = world.request('us-east-1', 'per-client', 'y', 1);
    await world.time.run(Promise.all([a, b]));
    expect(world.containersOf('us-east-1')).toBe(2);
    await world.time.advance(1000);
    await world.time.run(world.request('us-east-1', 'per-client', 'z', 1));
    expect(world.containersOf('us-east-1')).toBe(2);
  });

  it('a partition takes its write units per second, then throttles until the next second', () => {
    const world = new EdgeWorld({
      config: resolveConfig(config),
      edgeRegions: ['us-east-1'],
      seed: 1,
    });
    for (let i = 0; i < PARTITION_WRITE_UNITS_PER_SECOND; i++) world.chargeWrite('us-east-1', 'b');
    let thrown: unknown;
    try {
      world.chargeWrite('us-east-1', 'b');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StoreError);
    expect((thrown as StoreError).kind).toBe('throttled');
    // Replicated writes count on every replica: another region's writer is already full too.
    expect(() => world.chargeWrite('eu-west-1', 'b')).toThrow(StoreError);
    expect(world.throttledWrites).toBe(2);
    // Another bucket is another partition.
    expect(() => world.chargeWrite('us-east-1', 'other')).not.toThrow();
    world.time.setTimer(() => undefined, 1000);
    return world.time.advance(1000).then(() => {
      expect(() => world.chargeWrite('us-east-1', 'b')).not.toThrow();
    });
  });

  it('without the limit nothing throttles', () => {
    const world = new EdgeWorld({
      config: resolveConfig(config),
      edgeRegions: ['us-east-1'],
      seed: 1,
      throughputLimits: false,
    });
    for (let i = 0; i <= 2 * PARTITION_WRITE_UNITS_PER_SECOND; i++)
      world.chargeWrite('us-east-1', 'b');
    expect(world.throttledWrites).toBe(0);
    expect(world.maxPartitionWritesPerSecond).toBeGreaterThan(PARTITION_WRITE_UNITS_PER_SECOND);
  });
});

describe('edge simulator: workloads', () => {
  const edges = ['us-east-1', 'sa-east-1'];

  it('is deterministic for a seed, and another seed draws another run', async () => {
    const run = (seed: number) =>
      runEdgeWorkload('busy-key', { config, edgeRegions: edges, seed, durationS: 5, warmupS: 2 });
    const [a, b, c] = [await run(7), await run(7), await run(8)];
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('busy key: most admissions wait for no store round trip, none falls back, over-admission within its bound', async () => {
    const rows = await runEdgeWorkload('busy-key', {
      config,
      edgeRegions: edges,
      seed: 1,
      durationS: 30,
    });
    expect(rows.map((r) => r.edgeRegion)).toEqual(edges);
    for (const row of rows) {
      expect(row).toMatchObject({ workload: 'busy-key', policy: 'per-client', fallbackRate: 0 });
      expect(row.requests).toBeGreaterThan(200);
      expect(row.admitted).toBe(row.requests);
      expect(row.storeWaitShare).toBeLessThan(0.5);
      expect(row.addedLatencyP50Ms).toBeLessThan(row.rttMs);
      expect(row.overAdmissionTokens).toBeLessThanOrEqual(row.boundTokens);
      // Leases: far fewer writes than admitted requests.
      expect(row.writesPerAdmitted).toBeLessThan(0.5);
    }
  });

  it('cold keys: every admission waits for one store round trip (a take), not two', async () => {
    const [row] = await runEdgeWorkload('cold-keys', {
      config,
      edgeRegions: ['sa-east-1'],
      seed: 1,
      durationS: 10,
      warmupS: 2,
    });
    expect(row!.storeWaitShare).toBe(1);
    expect(row!.fallbackRate).toBe(0);
    expect(row!.addedLatencyP50Ms).toBeGreaterThanOrEqual(
      linkBetween('sa-east-1', 'us-east-1').floorMs,
    );
    expect(row!.addedLatencyP50Ms).toBeLessThan(1.5 * row!.rttMs + 10);
  });

  it('overload: a shared key at three times its refill admits about its refill, within its bound', async () => {
    const rows = await runEdgeWorkload('overload', {
      config,
      edgeRegions: edges,
      seed: 1,
      durationS: 20,
    });
    const admitted = rows.reduce((n, r) => n + r.admitted, 0);
    const requests = rows.reduce((n, r) => n + r.requests, 0);
    expect(admitted).toBeLessThan(0.5 * requests);
    // 50 tokens/s for 20 s plus a capacity of 100, and what the bound allows.
    expect(admitted).toBeLessThanOrEqual(50 * 20 + 100 + rows[0]!.boundTokens);
    for (const row of rows) expect(row.overAdmissionTokens).toBeLessThanOrEqual(row.boundTokens);
  });

  it('hot bucket: 20,000 requests/s across the replicas stays under the partition limit', async () => {
    const rows = await runEdgeWorkload('hot-bucket', {
      config,
      edgeRegions: ['us-east-1', 'eu-west-1', 'ap-southeast-1'],
      seed: 1,
      durationS: 10,
    });
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row.throttledWrites).toBe(0);
      expect(row.maxPartitionWritesPerSecond).toBeLessThan(PARTITION_WRITE_UNITS_PER_SECOND);
      expect(row.fallbackRate).toBe(0);
      expect(row.admitted).toBeGreaterThan(0.9 * row.requests);
    }
  });

  it('chooses a per-client and a shared policy from the config, or the one asked for', () => {
    const resolved = resolveConfig(config);
    expect(workloadPolicies(resolved)).toMatchObject({
      perClient: { id: 'per-client' },
      shared: { id: 'cap' },
    });
    expect(workloadPolicies(resolved, 'cap').perClient.id).toBe('cap');
    expect(() => workloadPolicies(resolved, 'nope')).toThrow(/unknown policy "nope"/);
    // The shipped config has both kinds.
    const shipped = workloadPolicies(resolveConfig(shippedConfig));
    expect(shipped.perClient.id).not.toBe(shipped.shared.id);
  });

  it('over-admission is how far the exact level of the admissions went below zero', () => {
    const policy = resolveConfig(config).policies.get('per-client')!;
    // 100 at once empties the bucket; 5 more 10 ms later find 0.5 token of refill.
    const at = (atMs: number, tokens: number) => ({ atMs, tokens });
    expect(worstOverAdmission(policy, [at(0, 100)])).toBe(0);
    expect(worstOverAdmission(policy, [at(0, 100), at(10, 5)])).toBeCloseTo(4.5, 6);
    // Refill pays it back: after two seconds the same 5 fit.
    expect(worstOverAdmission(policy, [at(0, 100), at(2000, 5)])).toBe(0);
  });
});

describe('edge simulator: flags and table', () => {
  it('--edge runs every workload in every regional edge cache region on the shipped config', () => {
    expect(parseArgs(['--edge']).edge).toEqual({
      configFile: DEFAULT_EDGE_CONFIG,
      workloads: [...EDGE_WORKLOADS],
      edgeRegions: [...REGIONAL_EDGE_CACHE_REGIONS],
      durationS: 60,
      replicaSets: false,
    });
    expect(parseArgs(['--edge', '--replica-sets']).edge?.replicaSets).toBe(true);
    expect(parseArgs([]).edge).toBeUndefined();
  });

  it('reads its own flags', () => {
    const options = parseArgs([
      '--edge',
      '--config=my.config.ts',
      '--policy',
      'api',
      '--workload',
      'busy-key,overload',
      '--edge-regions=sa-east-1',
      '--duration',
      '5',
      '--seed',
      '9',
      '--json',
    ]);
    expect(options).toMatchObject({
      seed: 9,
      json: true,
      edge: {
        configFile: 'my.config.ts',
        policy: 'api',
        workloads: ['busy-key', 'overload'],
        edgeRegions: ['sa-east-1'],
        durationS: 5,
      },
    });
  });

  it.each([
    [['--edge', '--lag', '10'], /--edge does not take --lag/],
    [['--workload', 'busy-key'], /--workload only apply with --edge/],
    [['--edge', '--workload', 'busy-key,nope'], /unknown "nope"; known: busy-key/],
    [['--edge', '--edge-regions', 'mars-1'], /--edge-regions: unknown "mars-1"/],
    [['--edge', '--duration', '0'], /--duration must be an integer between 1 and 3600/],
    [['--edge', '--config'], /--config needs a file/],
    [['--replica-sets'], /--replica-sets only apply with --edge/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(CliUsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });

  it('formats one table row per workload and edge region', async () => {
    const rows = await runEdgeWorkload('busy-key', {
      config,
      edgeRegions: ['eu-west-1', 'ap-southeast-2'],
      seed: 1,
      durationS: 2,
      warmupS: 1,
    });
    const lines = formatEdgeTable(rows).split('\n');
    expect(lines).toHaveLength(2 + rows.length);
    expect(lines[0]).toMatch(/^\| workload +\| edge region +\| replica/);
    expect(lines[2]).toContain('| eu-west-1');
    expect(lines[3]).toContain('| ap-southeast-2');
  });
});

describe('edge simulator: what replicas buy', () => {
  it('compares 3, 5 and 13 replica regions', () => {
    expect(REPLICA_SETS.map((set) => set.length)).toEqual([3, 5, 13]);
    for (const set of REPLICA_SETS) expect(new Set(set).size).toBe(set.length);
  });

  it('a replica in the edge region brings its store near; writes are paid on every replica', async () => {
    const results = await compareReplicaSets(config, {
      sets: [
        ['us-east-1', 'eu-west-1', 'ap-southeast-1'],
        ['us-east-1', 'eu-west-1', 'ap-southeast-1', 'sa-east-1'],
      ],
      edgeRegions: ['sa-east-1', 'eu-west-1'],
      durationS: 10,
    });
    const rowOf = (i: number, edge: string) =>
      results[i]!.busyKey.find((r) => r.edgeRegion === edge)!;
    expect(rowOf(0, 'sa-east-1').replicaRegion).toBe('us-east-1');
    expect(rowOf(1, 'sa-east-1').replicaRegion).toBe('sa-east-1');
    expect(rowOf(1, 'sa-east-1').rttMs).toBeLessThan(rowOf(0, 'sa-east-1').rttMs / 5);
    // The same writes per admitted request cost a replica more each.
    for (const r of results) {
      expect(r.dynamodbUsdPerMillion).toBeGreaterThanOrEqual(
        r.writesPerAdmitted * r.replicas.length * 0.625,
      );
      expect(r.sharedOverTokens).toBeLessThanOrEqual(r.sharedBoundTokens);
    }
    const table = formatReplicaSets(results).split('\n');
    expect(table[0]).toBe(
      '| edge region | 3 replicas: p50 / p99 ms (store wait) | 4 replicas: p50 / p99 ms (store wait) |',
    );
    expect(table.filter((line) => line.startsWith('| sa-east-1 |'))).toHaveLength(1);
    expect(
      table.some((line) =>
        line.startsWith('| 4 (us-east-1, eu-west-1, ap-southeast-1, sa-east-1) |'),
      ),
    ).toBe(true);
  });

  it('prices every limit of a request and the Lambda@Edge functions the config deploys', async () => {
    // The per-client rule also charges the viewer's IP bucket (leasing, like the key's).
    const twoLimits = withIpLimit({ capacityTokens: 400, refillTokens: 200 });
    const options = {
      sets: [['us-east-1', 'eu-west-1', 'ap-southeast-1']],
      edgeRegions: ['eu-west-1'],
      durationS: 10,
    };
    const [plain] = await compareReplicaSets(twoLimits, options);
    const [headers] = await compareReplicaSets(
      { ...twoLimits, clientHeaders: 'viewer-response' },
      options,
    );
    for (const r of [plain!, headers!]) {
      // The IP bucket writes beside the key's: the request's writes are more than the key's.
      expect(r.requestWritesPerAdmitted).toBeGreaterThan(r.writesPerAdmitted * 1.5);
      expect(r.requestDynamodbUsdPerMillion).toBeGreaterThan(r.dynamodbUsdPerMillion);
      expect(r.totalUsdPerMillion).toBeCloseTo(
        r.edgeRequestsUsdPerMillion + r.edgeDurationUsdPerMillion + r.requestDynamodbUsdPerMillion,
        9,
      );
    }
    // One Lambda@Edge request per request, two with the viewer-response function.
    expect(plain!.edgeRequestsUsdPerMillion).toBeCloseTo(0.6, 9);
    expect(headers!.edgeRequestsUsdPerMillion).toBeCloseTo(1.2, 9);
  });
});

describe('edge simulator: a request of several limits', () => {
  /** The per-client policy's rule also charges the viewer's IP, 5 tokens and one a minute. */
  const ipAndCap = withIpLimit({ capacityTokens: 5, refillTokens: 1, refillIntervalMs: 60_000 }, [
    { policy: 'cap', key: [{ constant: 'all' }] },
  ]);

  it("decides every limit of the per-client policy's rule, as the edge does", async () => {
    const companions = companionLimits(resolveConfig(ipAndCap), 'per-client');
    expect(companions.map((c) => c.policyId)).toEqual(['per-ip', 'cap']);
    const arrival = { atMs: 0, edgeRegion: 'us-east-1', key: 'busy:us-east-1' };
    expect(companions.map((c) => c.keyOf(arrival, '198.51.100.1'))).toEqual([
      'ip:198.51.100.1',
      'const:cap',
    ]);
    // The viewer's IP bucket (5 tokens) refuses most of the busy key's requests, which the
    // per-client bucket alone (100 tokens, 50/s at 10 requests/s) would all admit.
    const [row] = await runEdgeWorkload('busy-key', {
      config: ipAndCap,
      edgeRegions: ['us-east-1'],
      durationS: 5,
      warmupS: 1,
    });
    expect(row?.requests).toBeGreaterThan(30);
    expect(row?.admitted).toBeLessThan(10);
    const [alone] = await runEdgeWorkload('busy-key', {
      config,
      edgeRegions: ['us-east-1'],
      durationS: 5,
      warmupS: 1,
    });
    expect(alone?.admitted).toBe(alone?.requests);
  });
});
