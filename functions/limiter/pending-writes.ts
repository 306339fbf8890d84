/**
 * What a container owes the store: tokens the `local` failure mode admitted
 * without it (debt), and tokens to hand back that no later write of the same
 * bucket has carried yet (a lease's unused part when its bucket's state was
 * evicted, a late write whose decision had already refused).
 *
 * Why apart from the bucket cache: the cache may evict any bucket at any
 * time; what is owed must not go with it. Entries leave only when a write
 * that records them has been answered by the store (see
 * {@link PendingWrites.take} and {@link PendingWrites.settle}); a failed
 * write puts them back. The ledger is bounded: once it holds `maxBuckets`
 * entries, {@link PendingWrites.addDebt} refuses new buckets, and the `local`
 * failure mode then refuses instead of admitting what it could not record.
 *
 * What a container recycle can still lose is exactly what is in here (and in
 * writes in flight): the `PendingTokens` gauge reports it per flush
 * (docs/design.md, "Failure semantics").
 */

import type { HandBack } from '../core';

/** What is owed for one bucket. */
export interface PendingEntry {
  readonly bucketId: string;
  readonly policyId: string;
  /** Tokens admitted without the store, not yet recorded. */
  debtTokens: number;
  /** Tokens to hand back. */
  handBack: HandBack[];
  /** When the oldest part of this entry was added (ms). */
  sinceMs: number;
  /** A write carrying this entry is in flight. */
  inFlight: boolean;
}

/** A bounded ledger of what the container owes the store, per bucket. */
export class PendingWrites {
  readonly #entries = new Map<string, PendingEntry>();
  readonly #max: number;

  constructor(maxBuckets: number) {
    this.#max = Math.max(1, maxBuckets);
  }

  /** Buckets with something owed. */
  get size(): number {
    return this.#entries.size;
  }

  /** Debt tokens owed over all buckets. */
  get debtTokens(): number {
    let total = 0;
    for (const e of this.#entries.values()) total += e.debtTokens;
    return total;
  }

  /** Tokens to hand back over all buckets. */
  get handBackTokens(): number {
    let total = 0;
    for (const e of this.#entries.values()) for (const h of e.handBack) total += h.tokens;
    return total;
  }

  /** The entry of a bucket, if any. */
  get(bucketId: string): PendingEntry | undefined {
    return this.#entries.get(bucketId);
  }

  /** Whether a new bucket's debt could be recorded now. */
  canTake(bucketId: string): boolean {
    return this.#entries.has(bucketId) || this.#entries.size < this.#max;
  }

  /**
   * Records `tokens` admitted without the store.
   *
   * @returns false (nothing recorded) when the ledger is full and the bucket is new.
   */
  addDebt(bucketId: string, policyId: string, tokens: number, nowMs: number): boolean {
    const entry = this.#entry(bucketId, policyId, nowMs);
    if (entry === undefined) return false;
    entry.debtTokens += tokens;
    return true;
  }

  /**
   * Forgives up to `tokens` of a bucket's debt not yet on its way to the
   * store (their request was refused by another limit). Debt already being
   * written stays: it is recorded. Returns the tokens forgiven.
   */
  forgiveDebt(bucketId: string, tokens: number): number {
    const entry = this.#entries.get(bucketId);
    if (entry === undefined || entry.inFlight) return 0;
    const forgiven = Math.min(tokens, entry.debtTokens);
    entry.debtTokens -= forgiven;
    this.#dropIfEmpty(entry);
    return forgiven;
  }

  /**
   * Records tokens to hand back. Never refused: handing back is only ever
   * generous to others, and dropping it under pressure loses no consumption,
   * so a full ledger drops the hand-back instead (returns false).
   */
  addHandBack(bucketId: string, policyId: string, handBack: HandBack, nowMs: number): boolean {
    if (handBack.tokens <= 0) return true;
    const entry = this.#entry(bucketId, policyId, nowMs);
    if (entry === undefined) return false;
    entry.handBack.push(handBack);
    return true;
  }

  /** The hand-backs {@link takeHandBack} would give now, left in place. */
  peekHandBack(bucketId: string): readonly HandBack[] {
    const entry = this.#entries.get(bucketId);
    if (entry === undefined || entry.inFlight) return [];
    return entry.handBack;
  }

  /**
   * Takes the hand-backs of a bucket for a write about to be made by the
   * hot path (which folds them in); they come back with {@link restoreHandBack}
   * if that write fails. Debt stays: it is recorded by a write of its own.
   */
  takeHandBack(bucketId: string): HandBack[] {
    const entry = this.#entries.get(bucketId);
    if (entry === undefined || entry.inFlight || entry.handBack.length === 0) return [];
    const taken = entry.handBack;
    entry.handBack = [];
    this.#dropIfEmpty(entry);
    return taken;
  }

  /** Puts hand-backs back after a write that carried them failed. */
  restoreHandBack(
    bucketId: string,
    policyId: string,
    handBack: readonly HandBack[],
    nowMs: number,
  ) {
    for (const h of handBack) this.addHandBack(bucketId, policyId, h, nowMs);
  }

  /**
   * Up to `count` entries to write now, oldest first, skipping those in
   * flight and hand-back-only entries younger than `minHandBackAgeMs` (a
   * write of the bucket may still carry them for free). Each is marked in
   * flight until {@link settle}.
   */
  take(count: number, nowMs: number, minHandBackAgeMs: number): PendingEntry[] {
    const out: PendingEntry[] = [];
    for (const entry of this.#entries.values()) {
      if (out.length >= count) break;
      if (entry.inFlight) continue;
      if (entry.debtTokens === 0 && nowMs - entry.sinceMs < minHandBackAgeMs) continue;
      entry.inFlight = true;
      out.push(entry);
    }
    return out;
  }

  /**
   * Ends a write of `entry`: on success the written debt and hand-backs leave
   * the ledger (anything added meanwhile stays); on failure all of it stays.
   */
  settle(
    entry: PendingEntry,
    written: { readonly debtTokens: number; readonly handBack: readonly HandBack[] } | undefined,
  ): void {
    entry.inFlight = false;
    if (written !== undefined) {
      entry.debtTokens -= written.debtTokens;
      entry.handBack = entry.handBack.filter((h) => !written.handBack.includes(h));
    }
    this.#dropIfEmpty(entry);
  }

  #entry(bucketId: string, policyId: string, nowMs: number): PendingEntry | undefined {
    const existing = this.#entries.get(bucketId);
    if (existing !== undefined) return existing;
    if (this.#entries.size >= this.#max) return undefined;
    const entry: PendingEntry = {
      bucketId,
      policyId,
      debtTokens: 0,
      handBack: [],
      sinceMs: nowMs,
      inFlight: false,
    };
    this.#entries.set(bucketId, entry);
    return entry;
  }

  #dropIfEmpty(entry: PendingEntry): void {
    if (!entry.inFlight && entry.debtTokens === 0 && entry.handBack.length === 0) {
      this.#entries.delete(entry.bucketId);
    }
  }
}
