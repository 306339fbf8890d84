/**
 * The local runtime behind the network model: an edge region that holds no
 * replica (São Paulo) reaches its nearest replica through a delaying proxy,
 * every request that waits for the store waits at least the round trip
 * drawn for it, the replicas' own edges go through the same-region round
 * trip, and replication adds each link's one-way delay to the lag. Lower
 * bounds only: a slow machine adds time, never takes it away.
 */
import { performance } from 'node:perf_hooks';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oneWayMs } from '../../local/network';
import { type LocalHandle, startLocal } from '../../local/runtime';
import { storeRoundTrip } from '../../sim/network/model';
import { e2eConfig } from './harness';

const LAG_MS = 50;

describe('the local runtime with the network model', () => {
  let local: LocalHandle;

  beforeAll(async () => {
    local = await startLocal({
      config: e2eConfig(['us-east-1', 'eu-west-1']),
      edgeRegions: ['sa-east-1'],
      lagMs: LAG_MS,
      reconcileEveryMs: 0,
      seed: 3,
    });
  });
  afterAll(() => local?.stop());

  it('runs the edge-only region beside the replicas’ edges, each routed to its nearest replica', () => {
    expect(local.edgeRegions).toEqual(['us-east-1', 'eu-west-1', 'sa-east-1']);
    const route = local.routes.find((r) => r.edgeRegion === 'sa-east-1');
    expect(route?.replica).toBe('us-east-1');
    expect(route?.link).toEqual(storeRoundTrip('sa-east-1', 'us-east-1'));
    expect(local.routes.find((r) => r.edgeRegion === 'eu-west-1')?.link).toEqual(
      storeRoundTrip('eu-west-1', 'eu-west-1'),
    );
  });

  it('makes a São Paulo request that waits for the store wait at least the drawn round trip', async () => {
    const route = local.routes.find((r) => r.edgeRegion === 'sa-east-1');
    const proxied = () => route?.proxy.stats().requests ?? 0;
    const before = proxied();
    const sentMs = performance.now();
    const res = await fetch(`${local.edgeUrls['sa-east-1']}/demo/hello`, {
      headers: { 'x-api-key': 'far-away' },
    });
    await res.text();
    const elapsedMs = performance.now() - sentMs;
    expect(res.status).toBe(200);
    // A new key: the decision read the store through the proxy.
    expect(proxied()).toBeGreaterThan(before);
    expect(elapsedMs).toBeGreaterThanOrEqual(route?.proxy.stats().minDelayMs ?? Number.NaN);
    expect(route?.proxy.stats().minDelayMs).toBeGreaterThanOrEqual(route?.link.floorMs ?? 0);
    const status = await local.status();
    const edge = status.edges?.find((e) => e.region === 'sa-east-1');
    expect(edge).toMatchObject({ replica: 'us-east-1', estimated: false });
    expect(edge?.edge.allowed).toBe(1);
    expect(edge?.storeCalls).toBeGreaterThan(0);
  });

  it('adds each link’s one-way network delay to the replication lag', async () => {
    await local.emulator.client('us-east-1').send(
      new PutItemCommand({
        TableName: local.config.tableName,
        Item: { pk: { S: 'lag-probe' }, sk: { S: 'x' } },
      }),
    );
    await local.emulator.settle(30_000);
    const link = local.emulator
      .linkStats()
      .find((l) => l.from === 'us-east-1' && l.to === 'eu-west-1');
    expect(link?.lastLagMs).toBeGreaterThanOrEqual(LAG_MS + oneWayMs('us-east-1', 'eu-west-1'));
  });
});
