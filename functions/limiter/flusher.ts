/**
 * Writes what the container owes the store (pending-writes.ts) once the
 * store answers again: a few entries per decision, in the background of
 * decisions, each as one unconditional recording write (the core's
 * `recordingWrite`: the debt counted, the hand-backs credited).
 *
 * Why a few per decision: the work stays bounded per invocation whatever
 * happened during an outage, and a viewer never waits for it. Lambda freezes
 * the container when the handler returns, so a flush started by one request
 * may finish during the next; until its write is answered its entry stays in
 * the ledger (marked in flight), so nothing is written twice and nothing is
 * dropped. What a recycled container can still lose is what the ledger holds
 * (reported by the `pending` metric).
 */

import { policyOfBucket, type ResolvedPolicy } from '../config/resolve';
import { type HandBack, recordingWrite, type SlotItem, type View, viewOf, withItem } from '../core';
import type { BucketCache } from './bucket-cache';
import type { PendingEntry, PendingWrites } from './pending-writes';
import type { PolicyStore } from './pipeline';
import { StoreWaitError, writeMayHaveLanded } from './store-guard';
import type { LimiterMetrics } from './types';

/** What the flusher works with. */
export interface FlusherParts {
  readonly now: () => number;
  readonly pending: PendingWrites;
  readonly cache: BucketCache;
  readonly metrics: LimiterMetrics;
  readonly policies: ReadonlyMap<string, ResolvedPolicy>;
  /** The policy a bucket was decided under when a run-time override patched it (overrides.ts). */
  readonly policyOfBucket?: (bucketId: string) => ResolvedPolicy | undefined;
  readonly storeOf: (policy: ResolvedPolicy) => PolicyStore;
  /** Entries started per call of {@link Flusher.flush}. */
  readonly perPass: number;
  /** Hand-backs younger than this wait for a write of their own bucket to carry them (ms). */
  readonly handBackDelayMs: number;
  readonly log: (entry: Readonly<Record<string, unknown>>) => void;
  /** Told after every pending write settles (counters). */
  readonly onSettle?: () => void;
  /** Told about hand-backs dropped because their write may have landed (counters). */
  readonly onDroppedHandBack?: (handBack: readonly HandBack[]) => void;
}

/** Flushes pending writes. */
export class Flusher {
  readonly #inFlight = new Set<Promise<void>>();

  constructor(private readonly parts: FlusherParts) {}

  /** Starts up to `perPass` pending writes whose store is available; never waits for them. */
  flush(): void {
    const { pending, now, policies, storeOf, perPass, handBackDelayMs } = this.parts;
    if (pending.size === 0) return;
    const nowMs = now();
    for (const entry of pending.take(perPass, nowMs, handBackDelayMs)) {
      // The shape the bucket was decided under: an override's, or a quota's period.
      const base = policies.get(entry.policyId);
      const policy =
        this.parts.policyOfBucket?.(entry.bucketId) ??
        (base === undefined ? undefined : policyOfBucket(base, entry.bucketId));
      if (policy === undefined) {
        // The policy is gone from the config: its buckets can no longer be written.
        this.parts.log({
          level: 'warn',
          message: 'pending write for an unknown policy dropped',
          policy: entry.policyId,
        });
        pending.settle(entry, { debtTokens: entry.debtTokens, handBack: entry.handBack });
        continue;
      }
      const target = storeOf(policy);
      if (!target.guard.available()) {
        pending.settle(entry, undefined);
        continue;
      }
      const work = this.#write(policy, target, entry).finally(() => {
        this.#inFlight.delete(work);
        this.parts.onSettle?.();
        this.parts.metrics.pending?.({
          debtTokens: pending.debtTokens,
          handBackTokens: pending.handBackTokens,
        });
      });
      this.#inFlight.add(work);
    }
  }

  /** Resolves once every flush started so far has settled (tests, benchmarks, shutdown). */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  async #write(policy: ResolvedPolicy, target: PolicyStore, entry: PendingEntry): Promise<void> {
    const { pending, cache, now } = this.parts;
    const written = { debtTokens: entry.debtTokens, handBack: [...entry.handBack] };
    try {
      const state = cache.peek(entry.bucketId);
      let view: View = state?.view ?? viewOf([]);
      if (state?.viewReadAtMs === undefined) {
        const items = await target.guard.call('readView', (signal) =>
          target.store.readView(entry.bucketId, {
            consistent: target.consistent,
            abortSignal: signal,
          }),
        );
        view = viewOf([...view.values(), ...items]);
      }
      const write = recordingWrite({
        policy: policy.bucket,
        view,
        slot: target.slot,
        tokens: written.debtTokens,
        handBack: written.handBack,
        nowMs: now(),
      });
      let stored: SlotItem;
      try {
        stored = await target.guard.call('write', (signal) =>
          target.store.applyWrite(entry.bucketId, write, { abortSignal: signal }),
        );
      } catch (error) {
        // A slow write may still land: its entry stays in flight until it says so.
        if (!(error instanceof StoreWaitError)) throw error;
        stored = (await error.late) as SlotItem;
      }
      const current = cache.peek(entry.bucketId);
      if (current !== undefined) current.view = withItem(current.view, stored);
      pending.settle(entry, written);
    } catch (error) {
      // Still owed: a later pass tries again (the guard has counted the failure). A write that
      // may have landed has credited its hand-backs already: they are not written again.
      if (writeMayHaveLanded(error)) {
        this.parts.onDroppedHandBack?.(written.handBack);
        pending.settle(entry, { debtTokens: 0, handBack: written.handBack });
      } else {
        pending.settle(entry, undefined);
      }
    }
  }
}
