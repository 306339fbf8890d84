/**
 * Answering escrow asks (docs/escrow.md, "Idle regions"): a region holding
 * rights to an escrow bucket gives them only in a write of its own item, and
 * its containers write only for buckets they see traffic of. A region short
 * of rights therefore leaves an ask in the table; every run of the
 * reconciler of every region reads the asks and, for each bucket another
 * region asks for, rebalances this region's item as a busy container would:
 * one consistent read of the bucket's items and, when the plan gives
 * anything, one conditional write of this region's item. A container of the
 * region writing at the same time makes the write's condition fail: it is
 * then left to that container.
 *
 * An ask carries the bucket's sizes; they are checked against the split the
 * bucket id names (its escrow generation hashes capacity, refill, interval
 * and the regions), so a stale or forged ask can never make this region
 * accrue or give at another bucket's rate. Bounded: one read of the asks
 * and at most two calls per answered bucket, `maxBuckets` buckets per run.
 */
import type { PolicyConfig } from '../config/schema';
import { type BucketPolicy, escrowRebalanceWrite, escrowViewOf } from '../core';
import { escrowGeneration } from '../limiter/bucket-id';
import { type BucketStore, type EscrowAsk, EscrowConflictError } from '../store/types';

/** Most asks read per run. */
export const MAX_ESCROW_ASKS_READ = 100;
/** Most buckets answered per run. @default */
export const MAX_ESCROW_ASKS_ANSWERED = 20;
/** Asks older than this are ignored (ms): the asking region's need has passed or it asks again. */
export const ESCROW_ASK_MAX_AGE_MS = 5 * 60_000;

/** A quota's escrow items outlive their period by this much (s), like its slots. */
const QUOTA_TTL_GRACE_S = 3600;

/** What one pass over the asks did. */
export interface EscrowAsksOutcome {
  /** Asks read. */
  readonly read: number;
  /** Buckets this region gave rights of. */
  readonly gave: number;
  /** Asks left alone, with why (logged). */
  readonly skipped: readonly { readonly bucketId: string; readonly reason: string }[];
}

/** What a pass works with. */
export interface EscrowAsksInput {
  /** This region's replica. */
  readonly store: BucketStore;
  readonly region: string;
  readonly regions: readonly string[];
  readonly policies: readonly PolicyConfig[];
  readonly nowMs: () => number;
  /** A signal for each call (the run's budget and a per-call timeout). */
  readonly signal: () => AbortSignal;
  /** Runs each store call (the run's concurrency limit). */
  readonly run: <T>(task: () => Promise<T>) => Promise<T>;
  readonly maxBuckets?: number;
}

/** Reads the asks and gives this region's surplus rights to the regions asking. */
export async function answerEscrowAsks(input: EscrowAsksInput): Promise<EscrowAsksOutcome> {
  const { store, region, regions } = input;
  const { readEscrowAsks, readEscrow, writeEscrow } = store;
  const escrowPolicies = new Set(
    input.policies.filter((p) => p.consistency === 'escrow').map((p) => p.id),
  );
  if (
    escrowPolicies.size === 0 ||
    readEscrowAsks === undefined ||
    readEscrow === undefined ||
    writeEscrow === undefined
  ) {
    return { read: 0, gave: 0, skipped: [] };
  }
  const asks = await input.run(() =>
    readEscrowAsks.call(store, { limit: MAX_ESCROW_ASKS_READ, abortSignal: input.signal() }),
  );
  const skipped: { bucketId: string; reason: string }[] = [];
  const wanted = new Map<string, BucketPolicy>();
  const nowMs = input.nowMs();
  for (const ask of asks) {
    if (ask.region === region || wanted.has(ask.bucketId)) continue;
    const reason = askProblem(ask, regions, escrowPolicies, nowMs);
    if (reason !== undefined) {
      skipped.push({ bucketId: ask.bucketId, reason });
      continue;
    }
    wanted.set(ask.bucketId, policyOfAsk(ask));
  }
  let gave = 0;
  const maxBuckets = input.maxBuckets ?? MAX_ESCROW_ASKS_ANSWERED;
  for (const [bucketId, policy] of [...wanted].slice(0, maxBuckets)) {
    const items = await input.run(() =>
      readEscrow.call(store, bucketId, { consistent: true, abortSignal: input.signal() }),
    );
    const planned = escrowRebalanceWrite({
      policy,
      regions,
      view: escrowViewOf(items),
      region,
      nowMs: input.nowMs(),
    });
    if (planned === undefined || planned.gifts.length === 0) continue;
    try {
      await input.run(() =>
        writeEscrow.call(store, bucketId, planned.write, {
          abortSignal: input.signal(),
          ...(policy.endsAtMs === undefined
            ? {}
            : { ttlEpochSeconds: Math.ceil(policy.endsAtMs / 1000) + QUOTA_TTL_GRACE_S }),
        }),
      );
      gave += 1;
    } catch (error) {
      // A container of this region wrote first: it is busy with the bucket and rebalances it.
      if (!(error instanceof EscrowConflictError)) throw error;
      skipped.push({ bucketId, reason: 'written meanwhile by a container of this region' });
    }
  }
  for (const [bucketId] of [...wanted].slice(maxBuckets)) {
    skipped.push({ bucketId, reason: `more than ${maxBuckets} buckets asked for in one run` });
  }
  return { read: asks.length, gave, skipped };
}

function policyOfAsk(ask: EscrowAsk): BucketPolicy {
  return {
    capacityTokens: ask.capacityTokens,
    refillTokens: ask.refillTokens,
    refillIntervalMs: ask.refillIntervalMs,
    ...(ask.endsAtMs === undefined ? {} : { endsAtMs: ask.endsAtMs }),
  };
}

/** Why an ask is not answered, or undefined. */
function askProblem(
  ask: EscrowAsk,
  regions: readonly string[],
  escrowPolicies: ReadonlySet<string>,
  nowMs: number,
): string | undefined {
  if (!regions.includes(ask.region)) return `region ${ask.region} is not one of the regions`;
  if (nowMs - ask.atMs > ESCROW_ASK_MAX_AGE_MS) return 'older than five minutes';
  const [policyId = '', generation = ''] = ask.bucketId.split('#');
  if (!escrowPolicies.has(policyId)) return `policy ${policyId} is not an escrow policy`;
  const base = generation.replace(/\.e[A-Za-z0-9_-]{8}/, '');
  if (base === generation || escrowGeneration(base, policyOfAsk(ask), regions) !== generation) {
    return 'its sizes do not match the split its bucket id names';
  }
  return undefined;
}
