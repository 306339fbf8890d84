/**
 * What one container knows about the buckets it has decided for: a bounded,
 * least-recently-used map of per-bucket state (the cached view, the
 * blocked-until bound, leases and demand, the `local` failure mode's bucket).
 *
 * Why eviction is always safe: nothing in here is owed to the store. Tokens
 * a bucket still holds for the store (a live lease's unused tokens, tokens
 * to hand back) are given to the `onEvict` callback first, which moves them
 * to the container's pending writes (pending-writes.ts); local-mode debt is
 * kept there from the start. So a container spraying keys during an outage
 * can evict state freely and still loses nothing it admitted.
 */

import { EMPTY_VIEW, type HandBack, type Lease, type View } from '../core';

/** What one container knows about one bucket. */
export interface BucketState {
  readonly bucketId: string;
  readonly policyId: string;
  /** Newest known item per slot (own slot included). */
  view: View;
  /** When the other slots were last read (ms); undefined = never. */
  viewReadAtMs: number | undefined;
  /** A view read in flight, shared by concurrent decisions. */
  viewInFlight: Promise<View> | undefined;
  /** When the read in flight was sent (ms). */
  viewInFlightAtMs: number;
  /** The level seen by the last refusal and when: the blocked-until bound. */
  blocked: { readonly levelScaled: number; readonly atMs: number } | undefined;
  /** Live leases, oldest first (leases.ts). */
  leases: Lease[];
  /** When the newest lease taken expires (ms): until then the bucket is leasing here. */
  leasingUntilMs: number;
  /** The container's recent demand (tokens per ms, decayed; leases.ts) and when it was last updated. */
  demandPerMs: number;
  demandAtMs: number;
  /** The same demand remembered over {@link DEMAND_MEMORY_MS} (leases.ts): a lease's size after an idle spell. */
  demandMemoryPerMs: number;
  /** A lease is being taken in the background. */
  refreshing: boolean;
  /** A store decision of this bucket (or a background lease) under way: later requests wait for it. */
  deciding: Promise<void> | undefined;
  /** No background lease before this time (ms): after a refresh that could not take one. */
  refreshAfterMs: number;
  /** Tokens to hand back with this container's next write of the bucket. */
  handBack: HandBack[];
  /** The `local` failure mode's per-container bucket. */
  localView: View;
  /** After a throttled call, the store is left alone for this bucket until then (ms). */
  throttledUntilMs: number;
  /** Consecutive throttled calls (the backoff doubles). */
  throttles: number;
}

/** Settings of a {@link BucketCache}. */
export interface BucketCacheOptions {
  /** Most buckets kept. */
  readonly maxBuckets: number;
  /** Told about a state being evicted, before it is dropped. */
  readonly onEvict?: (state: BucketState) => void;
}

/** A bounded LRU map of bucket states. */
export class BucketCache {
  readonly #states = new Map<string, BucketState>();
  readonly #max: number;
  readonly #onEvict: (state: BucketState) => void;

  constructor(options: BucketCacheOptions) {
    this.#max = Math.max(1, options.maxBuckets);
    this.#onEvict = options.onEvict ?? (() => undefined);
  }

  /** Buckets currently kept. */
  get size(): number {
    return this.#states.size;
  }

  /** Every kept state, least recently used first (reporting; never mutate the cache while iterating). */
  states(): IterableIterator<BucketState> {
    return this.#states.values();
  }

  /** The state of a bucket without touching its recency (undefined when not kept). */
  peek(bucketId: string): BucketState | undefined {
    return this.#states.get(bucketId);
  }

  /** The state of a bucket, created when new; marks it most recently used. */
  get(bucketId: string, policyId: string): BucketState {
    const existing = this.#states.get(bucketId);
    if (existing !== undefined) {
      // Re-insert: Map order is then least recently used first.
      this.#states.delete(bucketId);
      this.#states.set(bucketId, existing);
      return existing;
    }
    const state: BucketState = {
      bucketId,
      policyId,
      view: EMPTY_VIEW,
      viewReadAtMs: undefined,
      viewInFlight: undefined,
      viewInFlightAtMs: 0,
      blocked: undefined,
      leases: [],
      leasingUntilMs: 0,
      demandPerMs: 0,
      demandAtMs: 0,
      demandMemoryPerMs: 0,
      refreshing: false,
      deciding: undefined,
      refreshAfterMs: 0,
      handBack: [],
      localView: EMPTY_VIEW,
      throttledUntilMs: 0,
      throttles: 0,
    };
    this.#states.set(bucketId, state);
    while (this.#states.size > this.#max) {
      const [oldestId, oldest] = this.#states.entries().next().value as [string, BucketState];
      this.#states.delete(oldestId);
      this.#onEvict(oldest);
    }
    return state;
  }
}
