/**
 * A container's leases of one bucket, sized to its demand (docs/design.md,
 * "Leases").
 *
 * - **Demand**: a decayed count of the tokens the container was asked for
 *   (time constant {@link DEMAND_TIME_CONSTANT_MS}), i.e. its recent rate,
 *   and the same over {@link DEMAND_MEMORY_MS} (what it remembers after an
 *   idle spell).
 * - **Size**: a write that leases takes what the larger of the two asks for
 *   over the lease's horizon (half its lifetime, at most
 *   {@link MAX_LEASE_HORIZON_MS}, and at least twice the refresh lead), never
 *   more than the policy's lease rules allow (its `maxTokens`, its share of
 *   the level: core `leaseSize`), never less than the policy's hot-bucket
 *   batch (`minTakeTokens`).
 * - **Refresh ahead**: when the tokens that will still be valid one lead
 *   time from now fall below what the demand will ask for meanwhile, a new
 *   lease is taken in the background, while the old one keeps serving. The
 *   lead covers the store's round trip (the guard's wait) and two requests:
 *   the container is frozen between invocations, so an answer is only seen
 *   by the next request.
 * - **Queue**: a bucket holds at most a couple of leases; the oldest serves
 *   first; an expired one's unused tokens are handed back.
 *
 * Pure functions of the bucket's state and the time: no store, no timers.
 */

import type { ResolvedPolicy } from '../config/resolve';
import type { Decision } from '../core';
import { type HandBack, type Lease, leaseSize, scaledCapacity, serveFromLease } from '../core';
import type { BucketState } from './bucket-cache';

/** Time constant of the demand estimate (ms): about the last half second counts. */
export const DEMAND_TIME_CONSTANT_MS = 500;

/** Share of the capacity below which a bucket takes no lease (only the hot-bucket batch). */
export const LEASE_MIN_LEVEL = 0.5;

/** Longest gap between two requests the refresh lead allows for (ms). */
const MAX_GAP_LEAD_MS = 1000;

/**
 * Longest horizon a lease is sized for beyond its refresh leads (ms): about a
 * second of demand, whatever the lease's lifetime. The lifetime bounds how
 * long a lease may wait for its requests (a container frozen between them);
 * the horizon, how much of the demand it holds at once.
 */
export const MAX_LEASE_HORIZON_MS = 1000;

/**
 * Time constant of the demand a lease is sized for after an idle spell (ms).
 * Lambda sends a region's requests to its most recently used container: one
 * that was idle for seconds while another served the key gets the next
 * requests once it has served one, and its half-second estimate has
 * forgotten that the key is busy. Its first store decision then takes a
 * lease for the demand it remembers, instead of one request at a time.
 */
export const DEMAND_MEMORY_MS = 10_000;

/** Records that the container was asked for `tokens` of the bucket at `nowMs`. */
export function observeDemand(state: BucketState, tokens: number, nowMs: number): void {
  state.demandMemoryPerMs = demandMemoryPerMs(state, nowMs) + tokens / DEMAND_MEMORY_MS;
  state.demandPerMs = demandPerMs(state, nowMs) + tokens / DEMAND_TIME_CONSTANT_MS;
  state.demandAtMs = Math.max(state.demandAtMs, nowMs);
}

/** The container's demand for the bucket over the last several seconds (tokens per ms). */
export function demandMemoryPerMs(state: BucketState, nowMs: number): number {
  const elapsed = Math.max(0, nowMs - state.demandAtMs);
  return state.demandMemoryPerMs * Math.exp(-elapsed / DEMAND_MEMORY_MS);
}

/** The container's recent demand for the bucket (tokens per ms). */
export function demandPerMs(state: BucketState, nowMs: number): number {
  const elapsed = Math.max(0, nowMs - state.demandAtMs);
  return state.demandPerMs * Math.exp(-elapsed / DEMAND_TIME_CONSTANT_MS);
}

/**
 * How long before its leases run out a container starts the next one (ms):
 * what taking a lease costs at worst without a lost packet (`waitMs`: the
 * pipeline passes the read's and the write's round trips) and two requests
 * at the current demand (the answer is seen by a later request).
 */
export function refreshLeadMs(
  state: BucketState,
  costTokens: number,
  waitMs: number,
  nowMs: number,
): number {
  return leadAtRate(demandPerMs(state, nowMs), costTokens, waitMs);
}

/**
 * The demand a lease taken now is for: the recent demand without the
 * request being decided (which the write itself serves). A key asked for
 * once in a while has none, and takes one request at a time.
 */
export function demandBesidesPerMs(state: BucketState, costTokens: number, nowMs: number): number {
  return Math.max(0, demandPerMs(state, nowMs) - costTokens / DEMAND_TIME_CONSTANT_MS);
}

function leadAtRate(rate: number, costTokens: number, waitMs: number): number {
  const gap = rate > 0 ? Math.min(MAX_GAP_LEAD_MS, costTokens / rate) : MAX_GAP_LEAD_MS;
  return waitMs + 2 * gap;
}

/**
 * Tokens to take for a request of `costTokens` at `levelScaled`, for a
 * leasing policy: the request and the other demand over the horizon (half
 * the lease's lifetime, at least two refresh leads at that demand, at most
 * its lifetime less one lead; `waitMs` is the store guard's wait), within
 * the lease rules and at least the policy's batch. `costTokens` without a
 * lease.
 */
export function wantedTokens(
  policy: ResolvedPolicy,
  state: BucketState,
  costTokens: number,
  levelScaled: number,
  waitMs: number,
  nowMs: number,
): number {
  const lease = policy.lease;
  if (lease === undefined) return costTokens;
  // Below half full the bucket is contended: tokens held in one container's lease are
  // refused to every other, so batching stops (the hot-bucket batch still applies).
  if (levelScaled < scaledCapacity(policy.bucket) * LEASE_MIN_LEVEL) {
    return Math.max(costTokens, batchOf(policy, costTokens));
  }
  // The recent demand, or what the container remembers of it after an idle spell.
  const rate = Math.max(
    demandBesidesPerMs(state, costTokens, nowMs),
    demandMemoryPerMs(state, nowMs) - costTokens / DEMAND_MEMORY_MS,
  );
  // Long enough to cover two refresh leads, short enough to be served within the lease's
  // lifetime after the lease before it (an unserved lease that expires behind a newer one's
  // checkpoint cannot be credited back: docs/design.md, "Leases").
  const leadMs = leadAtRate(rate, costTokens, waitMs);
  const horizonMs = Math.min(
    lease.ttlMs - leadMs,
    Math.max(Math.min(lease.ttlMs / 2, MAX_LEASE_HORIZON_MS), 2 * leadMs),
  );
  if (horizonMs <= 0) return Math.max(costTokens, batchOf(policy, costTokens));
  const byDemand = costTokens + Math.floor(rate * horizonMs);
  const sized = leaseSize(
    policy.bucket,
    lease,
    levelScaled,
    costTokens,
    Math.max(costTokens, byDemand),
  );
  return Math.max(sized, batchOf(policy, costTokens));
}

/** The least a write of this policy takes for a request of `costTokens` (whole requests). */
export function batchOf(policy: ResolvedPolicy, costTokens: number): number {
  return Math.ceil(policy.minTakeTokens / costTokens) * costTokens;
}

/** Moves the unused tokens of expired leases to the hand-backs. */
export function expireLeases(state: BucketState, nowMs: number): void {
  if (state.leases.length === 0) return;
  const live: Lease[] = [];
  for (const lease of state.leases) {
    if (nowMs >= lease.expiresAtMs || nowMs < lease.takenAtMs) {
      const back = handBackOf(lease);
      if (back !== undefined) state.handBack.push(back);
    } else if (lease.tokensLeft > 0) {
      live.push(lease);
    }
  }
  state.leases = live;
}

/** Serves a request from the oldest lease that can, or returns undefined. */
export function serveFromLeases(
  policy: ResolvedPolicy,
  state: BucketState,
  costTokens: number,
  nowMs: number,
): { readonly decision: Decision; readonly lease: Lease } | undefined {
  expireLeases(state, nowMs);
  for (let i = 0; i < state.leases.length; i++) {
    const lease = state.leases[i]!;
    const served = serveFromLease(policy.bucket, lease, costTokens, nowMs);
    if (served === undefined) continue;
    if (served.lease.tokensLeft > 0) state.leases[i] = served.lease;
    else state.leases.splice(i, 1);
    return { decision: served.decision, lease };
  }
  return undefined;
}

/**
 * Puts tokens served from `lease` back into it (their request was refused by
 * another limit), when it still serves: into the queued lease, or, when it
 * was served out and left the queue, as that lease again, in its place.
 * Never more than it took. False when it no longer serves: the caller hands
 * them back to the store instead.
 */
export function returnToLease(
  state: BucketState,
  lease: Lease,
  tokens: number,
  nowMs: number,
): boolean {
  if (nowMs >= lease.expiresAtMs) return false;
  const i = state.leases.findIndex((l) => l.takenUpToN === lease.takenUpToN && l.inc === lease.inc);
  const queued = state.leases[i];
  if (queued === undefined) {
    if (tokens > lease.tokensTaken) return false;
    const at = state.leases.findIndex((l) => l.takenAtMs > lease.takenAtMs);
    state.leases.splice(at < 0 ? state.leases.length : at, 0, { ...lease, tokensLeft: tokens });
    return true;
  }
  if (queued.tokensLeft + tokens > queued.tokensTaken) return false;
  state.leases[i] = { ...queued, tokensLeft: queued.tokensLeft + tokens };
  return true;
}

/** Tokens of live leases that will still be valid at `atMs`. */
export function leasedTokensValidAt(state: BucketState, atMs: number): number {
  let tokens = 0;
  for (const lease of state.leases) if (atMs < lease.expiresAtMs) tokens += lease.tokensLeft;
  return tokens;
}

/**
 * Whether the container should take its next lease now: it leases, it has
 * been asked for the bucket, no refresh is under way, and what its leases
 * will still hold one lead from now (nothing, once served out) is less than
 * the demand meanwhile, while its newest lease's lifetime lasts. The caller
 * also checks that the demand is worth a lease.
 */
export function refreshDue(
  policy: ResolvedPolicy,
  state: BucketState,
  costTokens: number,
  leadMs: number,
  nowMs: number,
): boolean {
  if (policy.lease === undefined || state.refreshing || nowMs < state.refreshAfterMs) return false;
  const rate = demandPerMs(state, nowMs);
  // Only a bucket that leases here refreshes ahead: one whose newest lease (served out
  // or not) has not expired yet. A contended bucket takes none, and never calls ahead.
  if (rate <= 0 || nowMs >= state.leasingUntilMs) return false;
  const needed = Math.max(costTokens, rate * leadMs);
  return leasedTokensValidAt(state, nowMs + leadMs) < needed;
}

/** Adds a lease (its first request, if any, already served). */
export function addLease(state: BucketState, lease: Lease): void {
  state.leasingUntilMs = Math.max(state.leasingUntilMs, lease.expiresAtMs);
  if (lease.tokensLeft > 0) state.leases.push(lease);
}

/** Every live lease's unused tokens as hand-backs, emptying the queue (eviction). */
export function releaseLeases(state: BucketState): HandBack[] {
  const out: HandBack[] = [];
  for (const lease of state.leases) {
    const back = handBackOf(lease);
    if (back !== undefined) out.push(back);
  }
  state.leases = [];
  return out;
}

/** Tokens held for the bucket: live leases and tokens to hand back. */
export function heldTokens(state: BucketState, nowMs: number): number {
  let held = leasedTokensValidAt(state, nowMs);
  for (const h of state.handBack) held += h.tokens;
  return held;
}

function handBackOf(lease: Lease): HandBack | undefined {
  return lease.tokensLeft > 0
    ? { tokens: lease.tokensLeft, takenUpToN: lease.takenUpToN, inc: lease.inc }
    : undefined;
}
