/**
 * Escrow through the local runtime: two emulated regions, a cut between
 * them and traffic on both sides admit no more than the exact bucket (where
 * an `eventual` policy of the same size admits about twice it), and after
 * the heal the rights move to where the demand is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LimiterConfig, TokenBucketPolicyConfig } from '../../functions/config/schema';
import { ESCROW_RATE_PARTS, type EscrowItem } from '../../functions/core';
import { ORIGIN_HEADERS } from '../../functions/edge/responses';
import { Limiter } from '../../functions/limiter/limiter';
import { DynamoDbStore } from '../../functions/store/dynamodb-store';
import { sdkTransport } from '../../functions/store/sdk-transport';
import { type LocalHandle, startLocal } from '../../local/runtime';
import { LOCAL_CREDENTIALS } from '../helpers/dynalite';
import { pollUntil } from '../helpers/wait-for';
import { type EdgeAnswer, e2eConfig, edgeGet } from './harness';

const REGIONS = ['us-east-1', 'eu-west-1'] as const;
const [EAST, WEST] = REGIONS;
/** 20 tokens, 1 a second: each region starts with 10 tokens and half a token a second. */
const SIZE = { capacityTokens: 20, refillTokens: 1 } as const;
const escrow: TokenBucketPolicyConfig = {
  id: 'escrow-plan',
  ...SIZE,
  consistency: 'escrow',
  onStoreError: 'closed',
};
const eventual: TokenBucketPolicyConfig = {
  id: 'eventual-plan',
  ...SIZE,
  onStoreError: 'closed',
};
const REBALANCE_MS = 300;

function config(): LimiterConfig {
  const base = e2eConfig(REGIONS);
  return {
    ...base,
    policies: [...base.policies, escrow, eventual],
    rules: [
      ...[escrow, eventual].map((p) => ({
        id: p.id,
        match: { path: `/${p.id}/**` },
        policy: p.id,
        key: [{ header: 'x-api-key' }],
      })),
      ...base.rules,
    ],
    runtime: { ...base.runtime, escrowRebalanceMs: REBALANCE_MS },
  };
}

/** `count` requests through `region`'s edge, one after the other. */
async function burst(
  local: LocalHandle,
  region: string,
  policy: string,
  key: string,
  count: number,
): Promise<EdgeAnswer[]> {
  const answers: EdgeAnswer[] = [];
  for (let i = 0; i < count; i++) answers.push(await edgeGet(local, region, `/${policy}/x`, key));
  return answers;
}

/** Admitted by the store (a fallback is the failure mode's, outside the bucket's accounting). */
const admittedOf = (answers: readonly EdgeAnswer[]) =>
  answers.filter((a) => a.status === 200 && !a.echo?.rateLimitHeaders[ORIGIN_HEADERS.fallback]);

describe('escrow across a cut, through the local runtime', () => {
  let local: LocalHandle;

  beforeAll(async () => {
    local = await startLocal({ config: config(), lagMs: 100, jitterMs: 0, reconcileEveryMs: 0 });
  });
  afterAll(() => local?.stop());

  /** A region's escrow item of a key, as its replica holds it. */
  async function itemOf(region: string, key: string): Promise<EscrowItem | undefined> {
    const resolved = new Limiter({
      config: local.config,
      region,
      store: new DynamoDbStore({ transport: sdkTransport({ region }), tableName: 'x' }),
    });
    const store = new DynamoDbStore({
      transport: sdkTransport({
        region,
        endpoint: local.storeEndpoints[region],
        credentials: LOCAL_CREDENTIALS,
      }),
      tableName: local.config.tableName,
    });
    const items = await store.readEscrow(resolved.bucketIdOf(escrow.id, key));
    return items.find((i) => i.region === region);
  }

  it('admits no more than the exact bucket while cut, where eventual admits each side its own', async () => {
    local.cut(EAST, WEST);
    const startMs = Date.now();
    const [east, west, eastEventual, westEventual] = await Promise.all([
      burst(local, EAST, escrow.id, 'cut-key', 25),
      burst(local, WEST, escrow.id, 'cut-key', 25),
      burst(local, EAST, eventual.id, 'cut-key', 25),
      burst(local, WEST, eventual.id, 'cut-key', 25),
    ]);
    const elapsedS = (Date.now() - startMs) / 1000;
    local.heal(EAST, WEST);
    const exactBound = SIZE.capacityTokens + SIZE.refillTokens * elapsedS;
    const escrowAdmitted = admittedOf([...east, ...west]).length;
    const eventualAdmitted = admittedOf([...eastEventual, ...westEventual]).length;
    const seen = `escrow ${escrowAdmitted}, eventual ${eventualAdmitted}, bound ${exactBound.toFixed(1)} in ${elapsedS.toFixed(1)} s`;
    expect(escrowAdmitted, seen).toBeLessThanOrEqual(exactBound);
    // Each side served its own share: about half the bucket each.
    expect(admittedOf(east).length, seen).toBeGreaterThanOrEqual(10);
    expect(admittedOf(west).length, seen).toBeGreaterThanOrEqual(10);
    // The same traffic on an eventual bucket: each side spends the whole bucket unseen.
    expect(eventualAdmitted, seen).toBeGreaterThan(exactBound);
    // Refusals name the escrow policy and carry a Retry-After from the region's own refill.
    const refused = east.find((a) => a.status === 429);
    expect(refused?.headers.get('retry-after')).toMatch(/^\d+$/);
  }, 60_000);

  it('after the heal, moves rights to the region with the demand', async () => {
    const key = 'skewed-key';
    // Skewed demand, sent between the reads of east's item: four requests in east for
    // every poll, one in west every fourth poll.
    let polls = 0;
    const startMs = Date.now();
    // East starts with half the refill; with its demand share it gets most of it.
    const item = await pollUntil(
      async () => {
        await burst(local, EAST, escrow.id, key, 4);
        if (polls++ % 4 === 0) await edgeGet(local, WEST, `/${escrow.id}/x`, key);
        return itemOf(EAST, key);
      },
      (i) => i !== undefined && i.rate > 0.6 * ESCROW_RATE_PARTS,
      30_000,
      50,
    );
    const tookMs = Date.now() - startMs;
    expect(item?.rate, `east holds rate ${item?.rate} after ${tookMs} ms`).toBeGreaterThan(
      0.6 * ESCROW_RATE_PARTS,
    );
    expect(item?.cap).toBeGreaterThan(0.6 * SIZE.capacityTokens * 1000);
  }, 60_000);

  it("an idle region's reconciler gives its rights to a region that asks for them", async () => {
    const key = 'idle-key';
    // Only east sees this key: it spends its half and refuses, and its ticks leave an ask.
    const before = await burst(local, EAST, escrow.id, key, 14);
    expect(admittedOf(before).length).toBeLessThanOrEqual(11);
    const startMs = Date.now();
    // West's reconciler (nothing of west's edge ever decides this key) answers the ask. The
    // polls' own requests in east refuse and, once a rebalance period has passed, leave it.
    const item = await pollUntil(
      async () => {
        await local.reconcileNow();
        await edgeGet(local, EAST, `/${escrow.id}/x`, key);
        return itemOf(EAST, key);
      },
      (i) => i !== undefined && i.rate > 0.8 * ESCROW_RATE_PARTS,
      30_000,
      100,
    );
    const tookMs = Date.now() - startMs;
    expect(item?.rate, `east holds rate ${item?.rate} after ${tookMs} ms`).toBeGreaterThan(
      0.8 * ESCROW_RATE_PARTS,
    );
  }, 60_000);
});
