/**
 * Leases: batching admissions in one container (see docs/design.md, "Leases").
 *
 * A container may take `m ≥ k` tokens in one write and serve the next requests
 * of that bucket from memory until the lease expires, then hand the unused
 * part back with its next write (a {@link HandBack}: credited in that write's
 * checkpoint as never taken). The tokens are debited from the global bucket
 * when leased, so a lease never over-admits beyond what it holds; it can only
 * under-admit elsewhere by what it holds. To keep that small, a lease is never
 * more than `maxShareOfLevel` of the level it was taken from, so batching fades
 * to exact accounting (`m = k`) as the bucket empties.
 *
 * Invariants: `0 ≤ tokensLeft ≤ tokensTaken`; a lease serves nothing at or
 * after `expiresAtMs`.
 */

import { type Decision, decisionFromLevels, type HandBack } from './bucket';
import { type BucketPolicy, scale, scaledCapacity } from './policy';

/** Lease settings of a policy. */
export interface LeasePolicy {
  /** Most tokens one lease may take. */
  readonly maxTokens: number;
  /** How long a lease may serve requests from memory (ms). */
  readonly ttlMs: number;
  /** Largest share of the current level one lease may take, in (0, 0.5]. @default 0.1 */
  readonly maxShareOfLevel?: number;
}

/** Default share of the level a lease may take. */
export const DEFAULT_LEASE_SHARE = 0.1;

/** Lists the problems of lease settings (empty when valid). */
export function validateLeasePolicy(lease: LeasePolicy): string[] {
  const problems: string[] = [];
  if (!Number.isSafeInteger(lease.maxTokens) || lease.maxTokens < 1) {
    problems.push(`lease.maxTokens must be a positive integer (got ${lease.maxTokens})`);
  }
  if (!Number.isSafeInteger(lease.ttlMs) || lease.ttlMs < 1) {
    problems.push(`lease.ttlMs must be a positive integer (got ${lease.ttlMs})`);
  }
  const share = lease.maxShareOfLevel ?? DEFAULT_LEASE_SHARE;
  if (!(share > 0 && share <= 0.5)) {
    problems.push(`lease.maxShareOfLevel must be in (0, 0.5] (got ${share})`);
  }
  return problems;
}

/**
 * How many tokens to take for a request of `costTokens` at `levelScaled`: a
 * whole number of requests, at least one, at most `maxTokens`, at most the
 * allowed share of the level, and at most `wantedTokens` (what the
 * container's demand calls for; unlimited when not given). Returns
 * `costTokens` (no batching) when the bucket is too low for more.
 */
export function leaseSize(
  policy: BucketPolicy,
  lease: LeasePolicy,
  levelScaled: number,
  costTokens: number,
  wantedTokens = Number.POSITIVE_INFINITY,
): number {
  const share = lease.maxShareOfLevel ?? DEFAULT_LEASE_SHARE;
  const byLevel = Math.floor((share * Math.max(0, levelScaled)) / scale(policy));
  const tokens = Math.min(lease.maxTokens, byLevel, Math.floor(wantedTokens));
  const requests = Math.floor(tokens / costTokens);
  return Math.max(1, requests) * costTokens;
}

/** A lease held in memory by one container. */
export interface Lease {
  /** Tokens taken by the write that created the lease. */
  readonly tokensTaken: number;
  /** Tokens not yet served. */
  readonly tokensLeft: number;
  /** The first moment the lease no longer serves (ms). */
  readonly expiresAtMs: number;
  /** The bucket level right after the lease was taken (scaled), for reporting. */
  readonly levelAfterScaled: number;
  /** When the lease was taken (ms). */
  readonly takenAtMs: number;
  /** The own slot's `n` right after the write that took the lease (its `ALL_NEW`). */
  readonly takenUpToN: number;
  /** The own slot's incarnation then. */
  readonly inc: number;
}

/**
 * Creates the lease left over after an admission that took `tokensTaken` for a
 * request of `costTokens` (the first request is served by the write itself).
 * `stored` is the own slot as the write left it (`ALL_NEW`).
 */
export function openLease(
  lease: LeasePolicy,
  admission: Pick<Decision, 'levelScaled'>,
  policy: BucketPolicy,
  tokensTaken: number,
  costTokens: number,
  nowMs: number,
  stored: { readonly n: number; readonly inc: number },
): Lease {
  return {
    tokensTaken,
    tokensLeft: tokensTaken - costTokens,
    expiresAtMs: nowMs + lease.ttlMs,
    levelAfterScaled: admission.levelScaled - tokensTaken * scale(policy),
    takenAtMs: nowMs,
    takenUpToN: stored.n,
    inc: stored.inc,
  };
}

/** The hand-back of a lease's unused tokens (nothing while it still serves). */
export function leaseHandBack(lease: Lease, nowMs: number): HandBack | undefined {
  const tokens = unusedTokens(lease, nowMs);
  return tokens === 0 ? undefined : { tokens, takenUpToN: lease.takenUpToN, inc: lease.inc };
}

/**
 * Serves a request from a lease, or returns `undefined` when the lease is
 * expired or holds fewer than `costTokens`. The reported remaining tokens are
 * the level after the lease plus its unused tokens, refilled since, capped
 * at capacity (so `remainingTokens` never exceeds `limitTokens`).
 */
export function serveFromLease(
  policy: BucketPolicy,
  lease: Lease,
  costTokens: number,
  nowMs: number,
): { decision: Decision; lease: Lease } | undefined {
  if (nowMs >= lease.expiresAtMs || nowMs < lease.takenAtMs || lease.tokensLeft < costTokens) {
    return undefined;
  }
  const s = scale(policy);
  const next: Lease = { ...lease, tokensLeft: lease.tokensLeft - costTokens };
  const refilled = Math.min(
    scaledCapacity(policy),
    lease.levelAfterScaled + policy.refillTokens * (nowMs - lease.takenAtMs),
  );
  // Held tokens count as still in the bucket, which never holds more than its capacity.
  const before = Math.min(scaledCapacity(policy), refilled + lease.tokensLeft * s);
  const after = before - costTokens * s;
  return {
    decision: decisionFromLevels(policy, costTokens, before, after, true),
    lease: next,
  };
}

/** Unused tokens to hand back once a lease can no longer serve (0 while it still can). */
export function unusedTokens(lease: Lease, nowMs: number): number {
  return nowMs >= lease.expiresAtMs ? lease.tokensLeft : 0;
}
