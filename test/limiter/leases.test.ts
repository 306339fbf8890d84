/**
 * When a container takes its next lease ahead (functions/limiter/leases.ts,
 * `refreshDue`): only for a bucket that leases here, before what it holds
 * runs out, never for a contended bucket or one gone idle. And how much a
 * lease asks for (`wantedTokens`): about a second of the demand, the demand
 * a container remembers after an idle spell included.
 */
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../../functions/config/resolve';
import { openLease, scaledCapacity } from '../../functions/core';
import { BucketCache, type BucketState } from '../../functions/limiter/bucket-cache';
import {
  addLease,
  observeDemand,
  refreshDue,
  serveFromLeases,
  wantedTokens,
} from '../../functions/limiter/leases';

const policy = resolvePolicy({ id: 'api', capacityTokens: 1000, refillTokens: 100 });
const LEAD_MS = 300;

/** A bucket asked for every 10 ms up to `nowMs` (100 requests/s). */
function busy(nowMs: number): BucketState {
  const state = new BucketCache({ maxBuckets: 10 }).get('b', 'api');
  for (let t = nowMs - 2000; t <= nowMs; t += 10) observeDemand(state, 1, t);
  return state;
}

function lease(state: BucketState, tokens: number, atMs: number): void {
  addLease(
    state,
    openLease(policy.lease!, { levelScaled: 0 }, policy.bucket, tokens, 0, atMs, {
      n: tokens,
      inc: 0,
    }),
  );
}

describe('refreshDue', () => {
  it('a bucket with no lease yet does not call ahead (its next request decides)', () => {
    expect(refreshDue(policy, busy(10_000), 1, LEAD_MS, 10_000)).toBe(false);
  });

  it('a lease that holds more than the demand within the lead is not refreshed yet', () => {
    const state = busy(10_000);
    lease(state, 50, 10_000);
    expect(refreshDue(policy, state, 1, LEAD_MS, 10_000)).toBe(false);
  });

  it('a lease about to run out is refreshed ahead', () => {
    const state = busy(10_000);
    lease(state, 20, 10_000);
    // 100 requests/s over a 300 ms lead want 30 tokens; the lease holds 20.
    expect(refreshDue(policy, state, 1, LEAD_MS, 10_000)).toBe(true);
  });

  it('a lease served out within its lifetime is still refreshed: the bucket leases here', () => {
    const state = busy(10_000);
    lease(state, 3, 10_000);
    for (let i = 0; i < 3; i++) expect(serveFromLeases(policy, state, 1, 10_000)).toBeDefined();
    expect(state.leases).toHaveLength(0);
    expect(refreshDue(policy, state, 1, LEAD_MS, 10_050)).toBe(true);
  });

  it('once its newest lease has expired, a bucket no longer calls ahead', () => {
    const state = busy(10_000);
    lease(state, 3, 10_000);
    const expired = 10_000 + policy.lease!.ttlMs;
    expect(refreshDue(policy, state, 1, LEAD_MS, expired - 1)).toBe(true);
    expect(refreshDue(policy, state, 1, LEAD_MS, expired)).toBe(false);
  });

  it('never while a refresh is under way, or for a policy without leases', () => {
    const state = busy(10_000);
    lease(state, 1, 10_000);
    state.refreshing = true;
    expect(refreshDue(policy, state, 1, LEAD_MS, 10_000)).toBe(false);
    state.refreshing = false;
    const noLease = resolvePolicy({
      id: 'x',
      capacityTokens: 1000,
      refillTokens: 100,
      lease: false,
    });
    expect(refreshDue(noLease, state, 1, LEAD_MS, 10_000)).toBe(false);
  });
});

describe('wantedTokens', () => {
  const full = scaledCapacity(policy.bucket);
  const WAIT_MS = 200;

  it('a container that was busy with a key seconds ago leases for that demand at its first request', () => {
    // 100 requests/s for 10 s, then nothing for 3 s (another container served the key).
    const state = new BucketCache({ maxBuckets: 10 }).get('b', 'api');
    for (let t = 0; t <= 10_000; t += 10) observeDemand(state, 1, t);
    observeDemand(state, 1, 13_000);
    const wanted = wantedTokens(policy, state, 1, full, WAIT_MS, 13_000);
    // What it remembers (about half of those 100/s, 3 s later) over about a second.
    expect(wanted).toBeGreaterThan(30);
    expect(wanted).toBeLessThanOrEqual(policy.lease!.maxTokens);
  });

  it('a key asked for once in a while still takes one request at a time', () => {
    const state = new BucketCache({ maxBuckets: 10 }).get('b', 'api');
    observeDemand(state, 1, 10_000);
    expect(wantedTokens(policy, state, 1, full, WAIT_MS, 10_000)).toBe(1);
    observeDemand(state, 1, 70_000);
    expect(wantedTokens(policy, state, 1, full, WAIT_MS, 70_000)).toBe(1);
  });

  it('a long-lived lease holds about a second of demand, not half its lifetime', () => {
    const long = resolvePolicy({
      id: 'api',
      capacityTokens: 10_000,
      refillTokens: 100,
      lease: { maxTokens: 5000, ttlMs: 10_000, maxShareOfLevel: 0.5 },
    });
    const state = busy(10_000);
    const wanted = wantedTokens(long, state, 1, scaledCapacity(long.bucket), WAIT_MS, 10_000);
    // 100 requests/s: the request and about 100 more (half the lifetime would be 500).
    expect(wanted).toBeGreaterThan(80);
    expect(wanted).toBeLessThanOrEqual(101);
  });
});
