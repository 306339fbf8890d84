/**
 * An in-memory {@link BucketStore} with the adapter's write semantics
 * (conditional ADD, version bump, incarnation set once) and fault injection,
 * for limiter unit tests that need a frozen clock and exact call counts.
 * Real DynamoDB semantics are covered by the dynalite tests.
 */
import {
  applySlotWrite,
  applyTakeWrite,
  type EscrowItem,
  type SlotItem,
  type SlotWrite,
  type TakeWrite,
} from '../../functions/core';
import type { CallSignal } from '../../functions/store/call-signal';
import {
  type BucketStore,
  type EscrowAsk,
  EscrowConflictError,
  type EscrowWriteOptions,
  type ReadOptions,
  StoreConflictError,
  StoreError,
  type StoreErrorKind,
  type TakeResult,
} from '../../functions/store/types';

/** A call of the store. */
type EscrowOperation = keyof MemoryStore['escrowCalls'];
type Operation = keyof MemoryStore['calls'] | EscrowOperation;

/** How the store misbehaves: fail with a kind, or never answer. */
export type Fault = Exclude<StoreErrorKind, 'conflict'> | 'hang';

export class MemoryStore implements BucketStore {
  readonly items = new Map<string, SlotItem>();
  readonly calls = { readView: 0, readSlot: 0, applyWrite: 0, applyTake: 0 };
  /** Calls of the escrow methods (apart, so tests of slot buckets compare `calls` whole). */
  readonly escrowCalls = { readEscrow: 0, writeEscrow: 0, writeEscrowAsk: 0, readEscrowAsks: 0 };
  /** Escrow asks: `<bucket id>|<region>` → ask. */
  readonly escrowAsks = new Map<string, EscrowAsk>();
  /** Escrow items: bucket id → region → item. */
  readonly escrowItems = new Map<string, Map<string, EscrowItem>>();
  /** Expiry written with each escrow item (bucket id|region → epoch seconds or undefined). */
  readonly escrowTtls = new Map<string, number | undefined>();
  /** Tokens added by every applied write and take, in order. */
  readonly taken: number[] = [];
  /** Apply the write or take, then fail this way (an answer lost after the store applied it). */
  failAfterApplying: Exclude<StoreErrorKind, 'conflict'> | undefined;
  /** Every call fails this way while set. */
  fault: Fault | undefined;
  /** Return the stored item with a conflict, as DynamoDB's ALL_OLD does. */
  returnOldOnConflict = true;
  /** With `hang`: give up when the caller's abort signal fires (a store that ignores it never answers). */
  honourAbort = true;
  /** Called before each call is answered: lets a test interleave another writer. */
  beforeAnswer: ((operation: Operation) => void) | undefined;
  /** Awaited before each call is answered: a slow store (per operation, when it says so). */
  beforeAnswerAsync: ((operation: Operation) => Promise<void>) | undefined;

  async readView(bucketId: string, options?: ReadOptions): Promise<SlotItem[]> {
    await this.#enter('readView', options?.abortSignal);
    return [...this.items.entries()]
      .filter(([k]) => k.startsWith(`${bucketId}|`))
      .map(([, v]) => v);
  }

  async readSlot(
    bucketId: string,
    slot: string,
    options?: ReadOptions,
  ): Promise<SlotItem | undefined> {
    await this.#enter('readSlot', options?.abortSignal);
    return this.items.get(`${bucketId}|${slot}`);
  }

  async applyWrite(
    bucketId: string,
    write: SlotWrite,
    options?: { abortSignal?: CallSignal },
  ): Promise<SlotItem> {
    await this.#enter('applyWrite', options?.abortSignal);
    const key = `${bucketId}|${write.slot}`;
    const current = this.items.get(key);
    const next = applySlotWrite(current, write);
    if (next === undefined) {
      throw new StoreConflictError(this.returnOldOnConflict ? current : undefined);
    }
    this.items.set(key, next);
    this.taken.push(write.addTokens);
    this.#failAfter();
    return next;
  }

  /**
   * The one-round-trip take; undefined on a store built with `takes: false`
   * (the limiter then decides every bucket the two-round-trip way).
   */
  readonly applyTake?: (
    bucketId: string,
    take: TakeWrite,
    options?: { abortSignal?: CallSignal },
  ) => Promise<TakeResult>;

  constructor(options: { readonly takes?: boolean } = {}) {
    if (options.takes !== false) this.applyTake = (b, t, o) => this.#applyTake(b, t, o);
  }

  async #applyTake(
    bucketId: string,
    take: TakeWrite,
    options?: { abortSignal?: CallSignal },
  ): Promise<TakeResult> {
    await this.#enter('applyTake', options?.abortSignal);
    const key = `${bucketId}|${take.slot}`;
    const before = this.items.get(key);
    const after = applyTakeWrite(before, take);
    if (after === undefined) throw new StoreConflictError(before);
    this.items.set(key, after);
    this.taken.push(take.addTokens);
    this.#failAfter();
    return { before, after };
  }

  async readEscrow(bucketId: string, options?: ReadOptions): Promise<EscrowItem[]> {
    await this.#enter('readEscrow', options?.abortSignal);
    return [...(this.escrowItems.get(bucketId)?.values() ?? [])];
  }

  async writeEscrow(
    bucketId: string,
    item: EscrowItem,
    options?: EscrowWriteOptions,
  ): Promise<void> {
    await this.#enter('writeEscrow', options?.abortSignal);
    const items = this.escrowItems.get(bucketId) ?? new Map<string, EscrowItem>();
    const current = items.get(item.region);
    if ((current?.v ?? 0) !== item.v - 1) {
      throw new EscrowConflictError(this.returnOldOnConflict ? current : undefined);
    }
    items.set(item.region, item);
    this.escrowItems.set(bucketId, items);
    this.escrowTtls.set(`${bucketId}|${item.region}`, options?.ttlEpochSeconds);
    this.#failAfter();
  }

  async writeEscrowAsk(ask: EscrowAsk, options?: EscrowWriteOptions): Promise<void> {
    await this.#enter('writeEscrowAsk', options?.abortSignal);
    this.escrowAsks.set(`${ask.bucketId}|${ask.region}`, ask);
  }

  async readEscrowAsks(options: ReadOptions & { readonly limit: number }): Promise<EscrowAsk[]> {
    await this.#enter('readEscrowAsks', options.abortSignal);
    return [...this.escrowAsks.values()].slice(0, options.limit);
  }

  /**
   * Replicates escrow items into `other` as a global table would: an item
   * replaces the other's copy when its version is newer (a cut is simply
   * not calling this).
   */
  replicateEscrowTo(other: MemoryStore): void {
    for (const [bucketId, items] of this.escrowItems) {
      const theirs = other.escrowItems.get(bucketId) ?? new Map<string, EscrowItem>();
      for (const [region, item] of items) {
        if ((theirs.get(region)?.v ?? 0) < item.v) theirs.set(region, item);
      }
      other.escrowItems.set(bucketId, theirs);
    }
    for (const [key, ask] of this.escrowAsks) {
      if ((other.escrowAsks.get(key)?.atMs ?? -1) < ask.atMs) other.escrowAsks.set(key, ask);
    }
  }

  #failAfter(): void {
    if (this.failAfterApplying !== undefined) {
      throw new StoreError(
        `injected ${this.failAfterApplying} after applying`,
        this.failAfterApplying,
      );
    }
  }

  /** The own-slot `n` summed over every slot of a bucket. */
  totalN(bucketId: string): number {
    let total = 0;
    for (const [k, v] of this.items) if (k.startsWith(`${bucketId}|`)) total += v.n;
    return total;
  }

  /** The stored item of one slot of the only bucket of a policy. */
  slotOf(policyId: string, slot: string): SlotItem | undefined {
    for (const [k, v] of this.items) if (k.startsWith(`${policyId}#`) && v.slot === slot) return v;
    return undefined;
  }

  async #enter(operation: Operation, signal: CallSignal | undefined): Promise<void> {
    if (operation in this.escrowCalls) this.escrowCalls[operation as EscrowOperation] += 1;
    else this.calls[operation as keyof MemoryStore['calls']] += 1;
    await Promise.resolve();
    if (this.beforeAnswerAsync !== undefined) await this.beforeAnswerAsync(operation);
    this.beforeAnswer?.(operation);
    if (this.fault === 'hang') {
      await new Promise<never>((_, reject) => {
        if (!this.honourAbort) return;
        signal?.addEventListener('abort', () => reject(new StoreError('aborted', 'timeout')), {
          once: true,
        });
      });
    }
    if (this.fault !== undefined)
      throw new StoreError(`injected ${this.fault}`, this.fault as StoreErrorKind);
  }
}
