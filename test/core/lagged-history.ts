/**
 * A small model of the real system for property tests: several slots (one per
 * region), each with several containers that cache a view, replication between
 * regions with a lag, and the conditional write applied exactly as DynamoDB
 * would (`ADD n`, `ADD v 1`, accepted only while the stored `n <= maxCurrentN`).
 *
 * Why a model and not the simulator: it records, for every decision, what the
 * decider had not seen (tokens other slots had admitted that its view lacks),
 * the level a complete view gives, and the exact level of everything admitted
 * so far ({@link ForcedReplay}), so the tests can state the bounds of the
 * merge (docs/design.md, "Bounds") per decision instead of per scenario.
 */

import {
  applySlotWrite,
  applyTakeWrite,
  type BucketPolicy,
  decide,
  type HandBack,
  levelAt,
  levelBeforeTake,
  recordingWrite,
  type SlotItem,
  scale,
  takeHandBack,
  takeWrite,
  type View,
  viewOf,
  withItem,
} from '../../functions/core';
import { mulberry32 } from '../../sim/prng';
import { ForcedReplay } from './reference-bucket';

/** One request of a lagged history. */
export interface LaggedStep {
  readonly gapMs: number;
  readonly costTokens: number;
  /** Deciding slot (modulo the slot count). */
  readonly slotIndex: number;
  /** Deciding container of that slot (modulo the container count). */
  readonly containerIndex: number;
  /** Whether the container refreshes its cached view from its region's replica first. */
  readonly refresh: boolean;
  /** Seed for how many replication messages arrive before this step. */
  readonly deliverySeed: number;
  /**
   * Extra tokens the admission takes and never serves (a reservation, as a
   * lease's unused part); the container hands them back with its next write.
   */
  readonly reserveTokens?: number;
  /**
   * Instead of deciding, the container records this many tokens it admitted
   * without the store (the `local` failure mode's debt), with the core's
   * unconditional recording write. They count as admitted: the level may go
   * negative.
   */
  readonly recordTokens?: number;
  /**
   * Decide the one-round-trip way: take the tokens (cost and reservation)
   * unconditionally while reading the region's replica, then keep what the
   * level before the take allows and hand the rest back later.
   */
  readonly take?: boolean;
}

/** Settings of a lagged history. */
export interface LaggedHistoryInput {
  readonly policy: BucketPolicy;
  readonly startMs: number;
  readonly slotCount: number;
  readonly containersPerSlot: number;
  /** Every write older than this has reached every replica; newer ones may or may not have. */
  readonly lagMs: number;
  readonly steps: readonly LaggedStep[];
}

/** What one admission looked like. */
export interface AdmissionRecord {
  readonly nowMs: number;
  readonly slot: string;
  readonly tokens: number;
  /** Tokens other slots had admitted that the decider's view did not contain. */
  readonly unseenOthersTokens: number;
  /** Exact level of everything admitted so far, this admission included (scaled). */
  readonly replayLevelAfterScaled: number;
}

/** What one decision saw. */
export interface DecisionRecord {
  readonly nowMs: number;
  /** Level computed from the decider's view (scaled). */
  readonly viewLevelScaled: number;
  /** Level computed from the newest item of every slot (scaled). */
  readonly fullLevelScaled: number;
  /** Exact level of everything admitted before this decision (scaled). */
  readonly replayLevelScaled: number;
  /** Tokens other slots had admitted that the view lacked. */
  readonly unseenOthersTokens: number;
  /** Tokens the decider's own slot had admitted that its cached view lacked. */
  readonly unseenOwnTokens: number;
}

/** Everything a lagged history produced. */
export interface LaggedHistory {
  /** Every version ever written, per slot, oldest first. */
  readonly versions: ReadonlyMap<string, readonly SlotItem[]>;
  readonly admissions: readonly AdmissionRecord[];
  /** Every write that took tokens: admissions, and takes refused after all (handed back later). */
  readonly takings: readonly {
    readonly nowMs: number;
    readonly slot: string;
    readonly tokens: number;
  }[];
  readonly decisions: readonly DecisionRecord[];
  /** Worst over-admission in any window, scaled units. */
  readonly worstExcessScaled: number;
  /** Exact level of everything admitted (handed-back tokens included), at the last step. */
  readonly replayLevelAtEnd: number;
  /** Time of the last step. */
  readonly endMs: number;
  /** Writes rejected by the condition (each retried once after re-reading the own slot). */
  readonly conditionFailures: number;
  /** Takes applied (decided the one-round-trip way). */
  readonly takes: number;
}

function nOf(view: View, item: SlotItem): number {
  const seen = view.get(item.slot);
  return seen !== undefined && seen.inc === item.inc ? seen.n : 0;
}

/** Runs a lagged history and records every bound-relevant quantity. */
export function runLaggedHistory(input: LaggedHistoryInput): LaggedHistory {
  const { policy, slotCount, containersPerSlot, lagMs } = input;
  const slots = Array.from({ length: slotCount }, (_, i) => `s${i}`);
  const versions = new Map<string, SlotItem[]>(slots.map((s) => [s, []]));
  // delivered[o][p]: how many versions of slot p region o's replica holds.
  const delivered = slots.map(() => slots.map(() => 0));
  const caches: View[][] = slots.map(() =>
    Array.from({ length: containersPerSlot }, () => new Map()),
  );
  const replay = new ForcedReplay(policy);
  // Tokens each container reserved and will hand back with its next write.
  const pending: HandBack[][][] = slots.map(() =>
    Array.from({ length: containersPerSlot }, () => []),
  );
  const admissions: AdmissionRecord[] = [];
  const takings: { nowMs: number; slot: string; tokens: number }[] = [];
  const decisions: DecisionRecord[] = [];
  let conditionFailures = 0;
  let takes = 0;
  let nowMs = input.startMs;

  const truth = (slot: string): SlotItem | undefined => {
    const list = versions.get(slot)!;
    return list[list.length - 1];
  };
  const replicaView = (o: number): View => {
    const items: SlotItem[] = [];
    slots.forEach((p, pi) => {
      const list = versions.get(p)!;
      const count = pi === o ? list.length : delivered[o]![pi]!;
      if (count > 0) items.push(list[count - 1]!);
    });
    return viewOf(items);
  };
  const fullView = (): View => viewOf(slots.flatMap((s) => (truth(s) ? [truth(s)!] : [])));
  const unseen = (view: View, o: string) => {
    let others = 0;
    let own = 0;
    for (const s of slots) {
      const item = truth(s);
      if (item === undefined) continue;
      const missing = item.n - nOf(view, item);
      if (s === o) own += missing;
      else others += missing;
    }
    return { others, own };
  };

  for (const step of input.steps) {
    nowMs += step.gapMs;
    const random = mulberry32(step.deliverySeed);
    slots.forEach((p, pi) => {
      const list = versions.get(p)!;
      let due = 0;
      while (due < list.length && list[due]!.at <= nowMs - lagMs) due++;
      for (let o = 0; o < slotCount; o++) {
        if (o === pi) continue;
        const extra = Math.floor(random() * (list.length - due + 1));
        delivered[o]![pi] = Math.max(delivered[o]![pi]!, due + extra);
      }
    });

    const o = step.slotIndex % slotCount;
    const slot = slots[o]!;
    const c = step.containerIndex % containersPerSlot;
    if (step.refresh) caches[o]![c] = replicaView(o);
    let view = caches[o]![c]!;

    const record = (v: View) => {
      const missing = unseen(v, slot);
      decisions.push({
        nowMs,
        viewLevelScaled: levelAt(policy, v, nowMs),
        fullLevelScaled: levelAt(policy, fullView(), nowMs),
        replayLevelScaled: replay.levelAt(nowMs),
        unseenOthersTokens: missing.others,
        unseenOwnTokens: missing.own,
      });
      return missing;
    };

    if ((step.recordTokens ?? 0) > 0) {
      record(view);
      const write = recordingWrite({ policy, view, slot, tokens: step.recordTokens!, nowMs });
      const next = applySlotWrite(truth(slot), write)!;
      versions.get(slot)!.push(next);
      caches[o]![c] = withItem(view, next);
      replay.admit(nowMs, step.recordTokens!);
      takings.push({ nowMs, slot, tokens: step.recordTokens! });
      continue;
    }

    if (step.take === true) {
      const reserve = Math.min(step.reserveTokens ?? 0, policy.capacityTokens - step.costTokens);
      const tokens = step.costTokens + reserve;
      const stored = truth(slot);
      const write = takeWrite(policy, slot, tokens, nowMs);
      const next = applyTakeWrite(stored, write);
      if (next !== undefined) {
        takes++;
        // The read runs beside the take: the replica's items, the own slot replaced by its state
        // just before the take (what the take's ALL_NEW tells exactly).
        const read = replicaView(o);
        const missing = record(read);
        versions.get(slot)!.push(next);
        takings.push({ nowMs, slot, tokens });
        const level = levelBeforeTake(policy, read, slot, stored, nowMs);
        const s = scale(policy);
        const kept =
          level >= tokens * s ? tokens : level >= step.costTokens * s ? step.costTokens : 0;
        const back = takeHandBack(next, tokens - kept);
        caches[o]![c] = withItem(read, next);
        if (back !== undefined) pending[o]![c] = [...pending[o]![c]!, back];
        if (kept > 0) {
          replay.admit(nowMs, step.costTokens);
          if (kept > step.costTokens) {
            pending[o]![c] = [
              ...pending[o]![c]!,
              { tokens: kept - step.costTokens, takenUpToN: next.n, inc: next.inc },
            ];
          }
          admissions.push({
            nowMs,
            slot,
            tokens: kept,
            unseenOthersTokens: missing.others,
            replayLevelAfterScaled: replay.levelAt(nowMs),
          });
        }
        continue;
      }
      // A slot with a longer expiry (a debt) refuses takes: decide it the conditional way.
    }

    for (let attempt = 0; attempt < 2; attempt++) {
      const missing = record(view);
      const reserve = Math.min(step.reserveTokens ?? 0, policy.capacityTokens - step.costTokens);
      const handBack = pending[o]![c]!;
      const decision = decide({
        policy,
        view,
        slot,
        costTokens: step.costTokens + reserve,
        nowMs,
        handBack,
      });
      if (!decision.allowed) break;
      const stored = truth(slot);
      const { write } = decision;
      const next = applySlotWrite(stored, write);
      if (next === undefined) {
        conditionFailures++;
        view = withItem(view, stored!);
        caches[o]![c] = view;
        continue;
      }
      versions.get(slot)!.push(next);
      caches[o]![c] = withItem(view, next);
      // Reserved tokens are never served: the exact bucket never sees them.
      replay.admit(nowMs, step.costTokens);
      pending[o]![c] = reserve > 0 ? [{ tokens: reserve, takenUpToN: next.n, inc: next.inc }] : [];
      takings.push({ nowMs, slot, tokens: write.addTokens });
      admissions.push({
        nowMs,
        slot,
        tokens: write.addTokens,
        unseenOthersTokens: missing.others,
        replayLevelAfterScaled: replay.levelAt(nowMs),
      });
      break;
    }
  }
  return {
    versions,
    admissions,
    takings,
    decisions,
    worstExcessScaled: replay.worstExcessScaled(),
    replayLevelAtEnd: replay.levelAt(nowMs),
    endMs: nowMs,
    conditionFailures,
    takes,
  };
}
