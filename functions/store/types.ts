/**
 * The store contract: the only way the limiter reaches persisted buckets.
 * The DynamoDB adapter (dynamodb-store.ts, over a transport: transport.ts) is
 * the only code that speaks DynamoDB; tests and the simulator may provide
 * other implementations.
 */
import type { EscrowItem, SlotItem, SlotWrite, TakeWrite } from '../core';
import type { CallSignal } from './call-signal';

/** Options of a read. */
export interface ReadOptions {
  /** Strongly consistent read (strong mode, or refreshing the own slot). @default false */
  readonly consistent?: boolean;
  /** Abort the call when this signal fires (time budget). */
  readonly abortSignal?: CallSignal;
}

/** A store of slot items, one replica (region) of the bucket table. */
export interface BucketStore {
  /**
   * Every slot item of `bucketId` in this replica, in any order. Items that
   * cannot be decoded are skipped (and reported through the error channel of
   * the implementation), never invented.
   */
  readView(bucketId: string, options?: ReadOptions): Promise<SlotItem[]>;
  /**
   * Opens connections to the store ahead of the first calls, when the store
   * has any to open. Never rejects.
   */
  warm?(): Promise<void>;
  /** One slot item, or `undefined` when it does not exist. */
  readSlot(bucketId: string, slot: string, options?: ReadOptions): Promise<SlotItem | undefined>;
  /**
   * Applies one conditional write (docs/design.md, "The conditional write") and resolves to the item as
   * stored afterwards (`ALL_NEW`). Rejects with {@link StoreConflictError}
   * when the condition fails; nothing is written then.
   */
  applyWrite(
    bucketId: string,
    write: SlotWrite,
    options?: { readonly abortSignal?: CallSignal },
  ): Promise<SlotItem>;
  /**
   * Applies a take (docs/design.md, "Takes": `ADD n k, v 1, tk k`, the
   * checkpoint kept) and resolves to the own slot just before it (`ALL_OLD`,
   * undefined when the take created it) and after it. Rejects with
   * {@link StoreConflictError} (carrying the stored item) when the stored
   * expiry is later than the take's; nothing is written then. A store
   * without it makes the limiter decide such buckets in two round trips.
   */
  applyTake?(
    bucketId: string,
    take: TakeWrite,
    options?: { readonly abortSignal?: CallSignal },
  ): Promise<TakeResult>;
  /**
   * Every escrow item of `bucketId` in this replica (docs/escrow.md: one item
   * per region, written only through that region's replica), in any order.
   * Items that cannot be decoded are skipped (and reported), never invented.
   * A store without it cannot serve `escrow` policies: the limiter refuses
   * such a config when it is built.
   */
  readEscrow?(bucketId: string, options?: ReadOptions): Promise<EscrowItem[]>;
  /**
   * Stores `item` as its region's escrow item when the stored one's version
   * is `item.v - 1` (no item counts as version 0), replacing every field.
   * Rejects with {@link EscrowConflictError} otherwise; nothing is written then.
   */
  writeEscrow?(bucketId: string, item: EscrowItem, options?: EscrowWriteOptions): Promise<void>;
  /**
   * Records that a region is short of an escrow bucket's rights (one item per
   * bucket and region, overwritten, expiring with `ttlEpochSeconds`), so the
   * regions holding them give even when none of their containers sees the
   * bucket's traffic (docs/escrow.md, "Idle regions").
   */
  writeEscrowAsk?(ask: EscrowAsk, options?: EscrowWriteOptions): Promise<void>;
  /** The asks this replica holds, at most `limit` of them; undecodable ones are skipped and reported. */
  readEscrowAsks?(options: ReadOptions & { readonly limit: number }): Promise<EscrowAsk[]>;
}

/** A region short of an escrow bucket's rights (see {@link BucketStore.writeEscrowAsk}). */
export interface EscrowAsk {
  readonly bucketId: string;
  /** The region that asks. */
  readonly region: string;
  /**
   * The bucket's sizes as the asking region decides it (its policy, after
   * overrides): the giver checks them against the split the bucket id names.
   */
  readonly capacityTokens: number;
  readonly refillTokens: number;
  readonly refillIntervalMs: number;
  /** A quota period's end (ms since the epoch); absent for a token bucket. */
  readonly endsAtMs?: number;
  /** When it asked (ms since the epoch, the asker's clock). */
  readonly atMs: number;
}

/** Options of {@link BucketStore.writeEscrow}. */
export interface EscrowWriteOptions {
  readonly abortSignal?: CallSignal;
  /** Expiry of the item, epoch seconds (a quota's period end plus an hour); none: it never expires. */
  readonly ttlEpochSeconds?: number;
}

/** What a take found and left. */
export interface TakeResult {
  /** The own slot just before the take; undefined when the take created it. */
  readonly before: SlotItem | undefined;
  /** The own slot after it. */
  readonly after: SlotItem;
}

/** Base of the store's domain errors; `cause` carries the transport's error. */
export class StoreError extends Error {
  override readonly name: string = 'StoreError';
  constructor(
    message: string,
    readonly kind: StoreErrorKind,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What went wrong, for failure modes and metrics. */
export type StoreErrorKind = 'conflict' | 'throttled' | 'timeout' | 'unavailable' | 'invalid';

/** The conditional write's condition failed; `current` is the stored item when the store returned it. */
export class StoreConflictError extends StoreError {
  override readonly name = 'StoreConflictError';
  constructor(
    readonly current: SlotItem | undefined,
    options?: { cause?: unknown },
  ) {
    super('conditional write rejected: the slot changed since it was read', 'conflict', options);
  }
}

/**
 * An escrow write's condition failed: another writer of the same region (a
 * second container) wrote the item first. `current` is the stored item when
 * the store returned it (DynamoDB's `ReturnValuesOnConditionCheckFailure`).
 */
export class EscrowConflictError extends StoreError {
  override readonly name = 'EscrowConflictError';
  constructor(
    readonly current: EscrowItem | undefined,
    options?: { cause?: unknown },
  ) {
    super('escrow write rejected: the item changed since it was read', 'conflict', options);
  }
}
