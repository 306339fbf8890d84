/**
 * Escrow: a bounded-counter CRDT for a global token bucket (see docs/escrow.md).
 *
 * Why: the checkpoint merge (bucket.ts) admits at local latency but can
 * over-admit what other regions took within the lag. Escrow splits the
 * global bucket's capacity `C` and refill `R` into *rights* held by each
 * region; a region admits only from the rights it holds, so no region ever
 * spends what another may also spend, whatever the lag, even through a
 * partition.
 *
 * Model, in the core's scaled units (policy.ts: one token is
 * `refillIntervalMs` units, the bucket refills `refillTokens` units per ms):
 * - each region's state is ONE {@link EscrowItem} written only by that region:
 *   its capacity right `cap` (units), its refill right `rate` (parts of
 *   {@link ESCROW_RATE_PARTS}: the region refills `R × rate / PARTS` units per
 *   ms), its level at `at` (a small bucket of capacity `cap`), what it
 *   consumed, the transfers it GAVE (cumulative per receiver) and the
 *   transfers it has counted from each giver (the giver's cumulative value it
 *   last absorbed);
 * - a region's rights at a time are its own item, refilled at its own rate up
 *   to its own cap, plus whatever the givers' items it has seen give it beyond
 *   what it already counted ({@link escrowRightsAt}). Counters only grow, so a
 *   stale or redelivered giver item adds nothing twice;
 * - a transfer moves capacity, refill rate and the tokens that go with that
 *   capacity (never more tokens than capacity), all taken from the giver at
 *   once in its own write.
 *
 * Invariant (checked by test/core/escrow.property.test.ts): with
 * `inFlight = Σ (given by g to r) − (counted by r from g)` over the newest
 * items, at every moment
 *   Σ_r cap_r + inFlight.cap = C,   Σ_r rate_r + inFlight.rate = PARTS,
 *   0 ≤ level_r ≤ cap_r,            inFlight.tokens ≤ inFlight.cap,
 * so `G = Σ_r level_r + inFlight.tokens ≤ C`; G grows only by refill, at most
 * `Σ_r R·rate_r/PARTS ≤ R` per ms, and each admission takes its cost out of G
 * without taking it below 0. Hence in every window W the regions together
 * admit at most `G(start) + R·|W| ≤ C + R·|W|`: the exact bucket's envelope.
 *
 * A quota period (`refillTokens` 0) is the degenerate case: rates are 0 and
 * only the capacity is split. Pure: no SDK, no environment, time is an
 * argument; the refill accrual carries its remainder (`rem`) so nothing is
 * lost to rounding however often a region writes.
 */

import { type BucketPolicy, checkedPolicy, checkedTime, scale, scaledCapacity } from './policy';

/** The refill rate is split in this many parts (parts per million of `R`). */
export const ESCROW_RATE_PARTS = 1_000_000;

const PARTS = BigInt(ESCROW_RATE_PARTS);

/** A cumulative transfer from one region to another (only ever grows). */
export interface EscrowTransfer {
  /** Tokens, in scaled units (at most `cap`, transfer by transfer). */
  readonly tokens: number;
  /** Capacity right, in scaled units. */
  readonly cap: number;
  /** Refill right, in parts of {@link ESCROW_RATE_PARTS}. */
  readonly rate: number;
}

/** The zero transfer. */
export const NO_TRANSFER: EscrowTransfer = { tokens: 0, cap: 0, rate: 0 };

/** One region's escrow item: written by that region only. */
export interface EscrowItem {
  /** The region that writes it. */
  readonly region: string;
  /** Version: +1 on every write (the conditional write's condition). */
  readonly v: number;
  /** Time of the level (ms, the writer's clock). */
  readonly at: number;
  /** Level at `at`, scaled units, `0 ≤ level ≤ cap`. */
  readonly level: number;
  /** Refill accrued but not yet a whole unit, in units / PARTS (`0 ≤ rem < PARTS`). */
  readonly rem: number;
  /** Capacity right held (scaled units). */
  readonly cap: number;
  /** Refill right held (parts of {@link ESCROW_RATE_PARTS}). */
  readonly rate: number;
  /** Tokens consumed (only grows). */
  readonly n: number;
  /** Cumulative transfers given, per receiver. */
  readonly given: Readonly<Record<string, EscrowTransfer>>;
  /** Per giver, the giver's cumulative transfer to this region already counted. */
  readonly recv: Readonly<Record<string, EscrowTransfer>>;
  /** Published recent demand, milli-tokens per second (advisory: rebalancing only). */
  readonly dm: number;
}

/** Newest known escrow item per region. */
export type EscrowView = ReadonlyMap<string, EscrowItem>;

/** Lists the problems of a region list for escrow (empty when valid). */
export function validateEscrowRegions(regions: readonly string[]): string[] {
  const problems: string[] = [];
  if (regions.length === 0) problems.push('escrow needs at least one region');
  const seen = new Set<string>();
  for (const r of regions) {
    if (typeof r !== 'string' || r.length === 0)
      problems.push('a region must be a non-empty string');
    else if (seen.has(r)) problems.push(`region ${r} is listed twice`);
    seen.add(r);
  }
  return problems;
}

function regionIndex(regions: readonly string[], region: string): number {
  const problems = validateEscrowRegions(regions);
  if (problems.length > 0) throw new RangeError(`invalid escrow regions: ${problems.join('; ')}`);
  const i = regions.indexOf(region);
  if (i < 0) throw new RangeError(`region ${region} is not one of ${regions.join(', ')}`);
  return i;
}

/** `total` split in `count` integer shares, the remainder to the first ones. */
function shareOf(total: number, count: number, index: number): number {
  const base = Math.floor(total / count);
  return base + (index < total - base * count ? 1 : 0);
}

/**
 * The rights a region holds before anything moved: an even split of `C` and
 * of the refill (remainders to the first regions of the list, so the shares
 * sum exactly to the whole), full.
 */
export function initialEscrowItem(
  policy: BucketPolicy,
  regions: readonly string[],
  region: string,
): EscrowItem {
  const i = regionIndex(regions, region);
  const cap = shareOf(scaledCapacity(checkedPolicy(policy)), regions.length, i);
  const rate = policy.refillTokens === 0 ? 0 : shareOf(ESCROW_RATE_PARTS, regions.length, i);
  return { region, v: 0, at: 0, level: cap, rem: 0, cap, rate, n: 0, given: {}, recv: {}, dm: 0 };
}

/** Orders two items of one region: positive when `a` is newer (version, then contents). */
export function compareEscrowItems(a: EscrowItem, b: EscrowItem): number {
  if (a.v !== b.v) return a.v - b.v;
  const ja = JSON.stringify(a);
  const jb = JSON.stringify(b);
  return ja < jb ? -1 : ja > jb ? 1 : 0;
}

/** A view from items in any order: the newest per region wins (duplicates merge). */
export function escrowViewOf(items: Iterable<EscrowItem>): EscrowView {
  const out = new Map<string, EscrowItem>();
  for (const item of items) {
    const current = out.get(item.region);
    if (current === undefined || compareEscrowItems(item, current) > 0) out.set(item.region, item);
  }
  return out;
}

function plus(a: EscrowTransfer, b: EscrowTransfer): EscrowTransfer {
  return { tokens: a.tokens + b.tokens, cap: a.cap + b.cap, rate: a.rate + b.rate };
}

function dominates(a: EscrowTransfer, b: EscrowTransfer): boolean {
  return a.tokens >= b.tokens && a.cap >= b.cap && a.rate >= b.rate;
}

/**
 * Refills a level at `rate` from `fromMs` to `toMs`, capped at `cap`; the
 * remainder below one unit is carried. BigInt: `R × rate × Δt` may pass 2^53.
 */
function accrue(
  policy: BucketPolicy,
  item: Pick<EscrowItem, 'level' | 'rem' | 'cap' | 'rate'>,
  fromMs: number,
  toMs: number,
): { level: number; rem: number } {
  if (item.level >= item.cap) return { level: item.cap, rem: 0 };
  const dt = toMs - fromMs;
  if (dt <= 0 || item.rate === 0 || policy.refillTokens === 0) {
    return { level: item.level, rem: item.rem };
  }
  const num = BigInt(policy.refillTokens) * BigInt(item.rate) * BigInt(dt) + BigInt(item.rem);
  const add = num / PARTS;
  if (BigInt(item.cap - item.level) <= add) return { level: item.cap, rem: 0 };
  return { level: item.level + Number(add), rem: Number(num % PARTS) };
}

/** What a region holds at a time, as one view shows it. */
export interface EscrowRights {
  readonly region: string;
  /** Tokens it may spend now (scaled units). */
  readonly levelScaled: number;
  /** Capacity right (scaled units). */
  readonly capScaled: number;
  /** Refill right (parts of {@link ESCROW_RATE_PARTS}). */
  readonly rateParts: number;
  /** Transfers seen but not yet counted in its own item (counted by its next write). */
  readonly pending: EscrowTransfer;
  /**
   * The region's item as its next write would store it before any change of
   * its own (refilled to the time, pending transfers counted, `v` not yet
   * raised). Internal to the write functions; exposed for tests.
   */
  readonly base: EscrowItem;
}

/**
 * A region's rights at `nowMs` from a view: its own item (or its initial
 * share when it never wrote), refilled at its own rate up to its own cap,
 * plus every transfer a giver's item in the view gives it beyond what its own
 * item already counted. A deterministic function of the items in the view:
 * replicas that saw the same items compute the same rights. Any region's
 * rights can be computed this way; only the region itself may spend them.
 *
 * `creditTokens`: whole tokens this region took earlier and gives back (a
 * request admitted by one limit and refused by another, or a take whose
 * request a failure mode refused). They go back into its own level, capped
 * at its own capacity right, before the transfers are counted. Safe ONLY on
 * the very item the take wrote (no write of the region's item between the
 * take and the credit): the level's path since the take was then refill
 * alone under the same cap, so the credited level is exactly what it would
 * be had the tokens never been taken (where refill reached the cap, it
 * already gave them back, and the cap keeps the credit from adding them
 * again). After other writes, the level may have refilled in the room the
 * taken tokens left and other admissions spent it: crediting then would hand
 * out refill the exact bucket never had. Callers condition the credit's
 * write on that item's version and drop the credit otherwise.
 */
export function escrowRightsAt(
  policy: BucketPolicy,
  regions: readonly string[],
  view: EscrowView,
  region: string,
  nowMs: number,
  creditTokens = 0,
): EscrowRights {
  checkedPolicy(policy);
  checkedTime(nowMs);
  if (!Number.isSafeInteger(creditTokens) || creditTokens < 0) {
    throw new RangeError(`credit must be a non-negative integer (got ${String(creditTokens)})`);
  }
  const own = view.get(region) ?? initialEscrowItem(policy, regions, region);
  // A clock behind the item's time credits nothing and keeps the item's time.
  const atMs = Math.max(own.at, nowMs);
  const refilled = accrue(policy, own, own.at, atMs);
  // A credit goes back into the region's own level under its own cap, before any transfer is
  // counted: the level it would have had without the take (see the doc comment above).
  const level = Math.min(own.cap, refilled.level + creditTokens * scale(policy));
  const rem = level >= own.cap ? 0 : refilled.rem;
  let pending = NO_TRANSFER;
  const recv: Record<string, EscrowTransfer> = { ...own.recv };
  for (const giver of regions) {
    if (giver === region) continue;
    const given = view.get(giver)?.given[region];
    if (given === undefined) continue;
    const counted = recv[giver] ?? NO_TRANSFER;
    // Counters only grow: a giver item not ahead of what was counted is stale and adds nothing.
    if (!dominates(given, counted)) continue;
    pending = plus(pending, {
      tokens: given.tokens - counted.tokens,
      cap: given.cap - counted.cap,
      rate: given.rate - counted.rate,
    });
    recv[giver] = given;
  }
  const cap = own.cap + pending.cap;
  const levelAfter = Math.min(level + pending.tokens, cap);
  const base: EscrowItem = {
    ...own,
    at: atMs,
    level: levelAfter,
    rem: levelAfter >= cap ? 0 : rem,
    cap,
    rate: own.rate + pending.rate,
    recv,
  };
  return {
    region,
    levelScaled: base.level,
    capScaled: base.cap,
    rateParts: base.rate,
    pending,
    base,
  };
}

/**
 * Milliseconds until a region's level reaches `targetScaled` at its current
 * rate (0 when already there; infinite when it never will on its own rights:
 * no refill right, or a target above its capacity right).
 */
export function escrowMsUntil(
  policy: BucketPolicy,
  rights: Pick<EscrowRights, 'levelScaled' | 'capScaled' | 'rateParts' | 'base'>,
  targetScaled: number,
): number {
  if (rights.levelScaled >= targetScaled) return 0;
  if (targetScaled > rights.capScaled || rights.rateParts === 0 || policy.refillTokens === 0) {
    return Number.POSITIVE_INFINITY;
  }
  const need = BigInt(targetScaled - rights.levelScaled) * PARTS - BigInt(rights.base.rem);
  const perMs = BigInt(policy.refillTokens) * BigInt(rights.rateParts);
  return Number((need + perMs - 1n) / perMs);
}

/** The decision on one request in escrow mode. */
export interface EscrowDecision {
  readonly allowed: boolean;
  /** The region's level before the decision (scaled units). */
  readonly levelScaled: number;
  /** Whole tokens the region holds after the decision. */
  readonly remainingTokens: number;
  /**
   * Ms until the region's own rights, after this decision, cover the same
   * cost again (0 when they do; infinite when its rights alone never will).
   */
  readonly retryAfterMs: number;
  /** When allowed: the own item to write (one conditional write on `v`). */
  readonly write?: EscrowItem;
}

/** Inputs of {@link escrowTake}. */
export interface EscrowTakeInput {
  readonly policy: BucketPolicy;
  readonly regions: readonly string[];
  readonly view: EscrowView;
  readonly region: string;
  readonly costTokens: number;
  readonly nowMs: number;
  /** Demand to publish with the write (milli-tokens per second). @default the item's */
  readonly demandMilli?: number;
  /** Whole tokens this region took earlier and gives back (see {@link escrowRightsAt}). @default 0 */
  readonly creditTokens?: number;
}

/**
 * Admits a request from the region's own rights only, or refuses it. The
 * write is the region's item with the cost taken from its level, pending
 * transfers counted and `v + 1`: store it with a condition on the current `v`
 * (no read of the other items is needed to admit; transfers not yet seen are
 * simply counted later).
 */
export function escrowTake(input: EscrowTakeInput): EscrowDecision {
  const { policy, costTokens } = input;
  if (!Number.isSafeInteger(costTokens) || costTokens <= 0) {
    throw new RangeError(`cost must be a positive integer (got ${String(costTokens)})`);
  }
  const rights = escrowRightsAt(
    policy,
    input.regions,
    input.view,
    input.region,
    input.nowMs,
    input.creditTokens ?? 0,
  );
  const cost = costTokens * scale(policy);
  const before = rights.levelScaled;
  if (before < cost) {
    return {
      allowed: false,
      levelScaled: before,
      remainingTokens: Math.floor(before / scale(policy)),
      retryAfterMs: escrowMsUntil(policy, rights, cost),
    };
  }
  const base = rights.base;
  const write: EscrowItem = {
    ...base,
    v: base.v + 1,
    level: base.level - cost,
    n: base.n + costTokens,
    dm: input.demandMilli ?? base.dm,
  };
  return {
    allowed: true,
    levelScaled: before,
    remainingTokens: Math.floor(write.level / scale(policy)),
    retryAfterMs: escrowMsUntil(policy, { ...rights, levelScaled: write.level, base: write }, cost),
    write,
  };
}

/** Rights a region gives another in one write (tokens go with the capacity). */
export interface EscrowGift {
  readonly to: string;
  /** Capacity right (scaled units). */
  readonly cap: number;
  /** Refill right (parts). */
  readonly rate: number;
}

/** Inputs of {@link escrowWrite}. */
export interface EscrowWriteInput {
  readonly policy: BucketPolicy;
  readonly regions: readonly string[];
  readonly view: EscrowView;
  readonly region: string;
  readonly nowMs: number;
  /** Transfers to make in this write. @default none */
  readonly gifts?: readonly EscrowGift[];
  /** Demand to publish (milli-tokens per second). @default the item's */
  readonly demandMilli?: number;
  /** Whole tokens this region took earlier and gives back (see {@link escrowRightsAt}). @default 0 */
  readonly creditTokens?: number;
}

/** Thrown when a gift gives what the region does not hold, or to a region that is not listed. */
export class InvalidEscrowGiftError extends Error {
  override readonly name = 'InvalidEscrowGiftError';
}

/**
 * A write of the region's own item that admits nothing: it counts pending
 * transfers, publishes demand and makes gifts. Each gift takes capacity and
 * rate from the giver, and the tokens that go with that capacity, in
 * proportion to how full the giver is (`⌊level × cap_given / cap⌋`), so the
 * giver's level stays within its smaller cap and no transfer carries more
 * tokens than capacity.
 *
 * @throws {@link InvalidEscrowGiftError} for a gift to itself or an unknown
 *   region, a negative or fractional amount, or more than it holds.
 */
export function escrowWrite(input: EscrowWriteInput): EscrowItem {
  const { policy, regions, region } = input;
  const rights = escrowRightsAt(
    policy,
    regions,
    input.view,
    region,
    input.nowMs,
    input.creditTokens ?? 0,
  );
  let item = rights.base;
  const given: Record<string, EscrowTransfer> = { ...item.given };
  for (const gift of input.gifts ?? []) {
    if (gift.to === region || !regions.includes(gift.to)) {
      throw new InvalidEscrowGiftError(`${region} cannot give to ${gift.to}`);
    }
    for (const [name, amount] of [
      ['cap', gift.cap],
      ['rate', gift.rate],
    ] as const) {
      if (!Number.isSafeInteger(amount) || amount < 0) {
        throw new InvalidEscrowGiftError(
          `gift ${name} must be a non-negative integer (got ${amount})`,
        );
      }
    }
    if (gift.cap > item.cap || gift.rate > item.rate) {
      throw new InvalidEscrowGiftError(
        `${region} holds cap ${item.cap} and rate ${item.rate}; cannot give ${gift.cap} and ${gift.rate}`,
      );
    }
    const tokens =
      item.cap === 0 ? 0 : Number((BigInt(item.level) * BigInt(gift.cap)) / BigInt(item.cap));
    const cap = item.cap - gift.cap;
    const level = item.level - tokens;
    given[gift.to] = plus(given[gift.to] ?? NO_TRANSFER, {
      tokens,
      cap: gift.cap,
      rate: gift.rate,
    });
    item = {
      ...item,
      cap,
      rate: item.rate - gift.rate,
      level,
      rem: level >= cap ? 0 : item.rem,
    };
  }
  return { ...item, v: item.v + 1, given, dm: input.demandMilli ?? item.dm };
}

/** A decayed estimate of a region's demand (requested tokens per second). */
export interface DemandEstimate {
  /** Tokens per second. */
  readonly perSecond: number;
  /** Time of the estimate (ms). */
  readonly atMs: number;
}

/** Default half-life of the demand estimate (ms). */
export const DEFAULT_DEMAND_HALF_LIFE_MS = 2000;

/** The estimate decayed to `nowMs` (never raised by a clock that went back). */
export function demandAt(
  estimate: DemandEstimate,
  nowMs: number,
  halfLifeMs = DEFAULT_DEMAND_HALF_LIFE_MS,
): DemandEstimate {
  if (nowMs <= estimate.atMs) return estimate;
  return {
    perSecond: estimate.perSecond * 2 ** (-(nowMs - estimate.atMs) / halfLifeMs),
    atMs: nowMs,
  };
}

/**
 * Adds a request's cost (admitted or not: demand, not admissions) to an
 * exponentially decayed rate; a steady stream of λ tokens/s converges to λ.
 */
export function observeDemand(
  estimate: DemandEstimate,
  nowMs: number,
  costTokens: number,
  halfLifeMs = DEFAULT_DEMAND_HALF_LIFE_MS,
): DemandEstimate {
  const decayed = demandAt(estimate, nowMs, halfLifeMs);
  return {
    perSecond: decayed.perSecond + (costTokens * Math.LN2 * 1000) / halfLifeMs,
    atMs: decayed.atMs,
  };
}

/**
 * The demand an item published, decayed to `nowMs` from the item's time,
 * with `addTokens` requested since (admitted or refused) observed at
 * `nowMs`: a region's demand estimate kept in its own item, so every writer
 * of the region (several containers) adds to one estimate.
 */
export function escrowDemandAt(
  item: Pick<EscrowItem, 'dm' | 'at'>,
  nowMs: number,
  addTokens = 0,
  halfLifeMs = DEFAULT_DEMAND_HALF_LIFE_MS,
): DemandEstimate {
  const published = demandAt({ perSecond: item.dm / 1000, atMs: item.at }, nowMs, halfLifeMs);
  return addTokens > 0 ? observeDemand(published, nowMs, addTokens, halfLifeMs) : published;
}

/** A demand estimate as published in an item (milli-tokens per second). */
export function demandMilli(estimate: DemandEstimate): number {
  return Math.round(estimate.perSecond * 1000);
}

/** Settings of {@link planEscrowRebalance}. */
export interface EscrowRebalanceOptions {
  /**
   * Share of the bucket spread evenly whatever the demand, so an idle region
   * can still serve its first requests before rights reach it. @default 0.1
   */
  readonly floorShare?: number;
  /**
   * Smallest gift worth a write, as a share of the whole bucket: below it, the
   * noise of demand estimates would move rights back and forth (and rate in
   * flight refills nobody). @default 0.05
   */
  readonly minGiftShare?: number;
}

/** Inputs of {@link planEscrowRebalance}. */
export interface EscrowRebalanceInput {
  readonly policy: BucketPolicy;
  readonly regions: readonly string[];
  readonly view: EscrowView;
  readonly region: string;
  readonly nowMs: number;
  /** The region's own current demand (milli-tokens per second); others' come from their items. */
  readonly ownDemandMilli: number;
  readonly options?: EscrowRebalanceOptions;
}

/**
 * What a region should give, and to whom, from what its view shows. Each
 * region's target is its share of recent demand (`floorShare` spread evenly
 * on top; an even split when nobody demands anything); a region gives only
 * its surplus over its own target, to the regions below theirs, in
 * proportion to their deficits (so several givers looking at the same view
 * together fill the deficits without overshooting). Others' rights count the
 * transfers already in flight to them, so a gift is not repeated while it
 * travels. Advisory only: whatever it returns, {@link escrowWrite} keeps the
 * invariant.
 */
export function planEscrowRebalance(input: EscrowRebalanceInput): EscrowGift[] {
  const { policy, regions, view, region, nowMs } = input;
  const floorShare = input.options?.floorShare ?? 0.1;
  const minGiftShare = input.options?.minGiftShare ?? 0.05;
  const capTotal = scaledCapacity(checkedPolicy(policy));
  const rateTotal = policy.refillTokens === 0 ? 0 : ESCROW_RATE_PARTS;
  const demands = regions.map((r) =>
    Math.max(0, r === region ? input.ownDemandMilli : (view.get(r)?.dm ?? 0)),
  );
  const totalDemand = demands.reduce((s, d) => s + d, 0);
  const share = (i: number) =>
    totalDemand <= 0
      ? 1 / regions.length
      : (1 - floorShare) * (demands[i]! / totalDemand) + floorShare / regions.length;
  const held = regions.map((r) => escrowRightsAt(policy, regions, view, r, nowMs));
  const me = regions.indexOf(region);
  const plan = (total: number, of: (r: EscrowRights) => number): number[] => {
    const gifts = regions.map(() => 0);
    const target = (i: number) => Math.floor(total * share(i));
    const surplus = of(held[me]!) - target(me);
    const minGift = Math.max(1, Math.floor(total * minGiftShare));
    if (surplus < minGift) return gifts;
    const deficits = regions.map((_, i) => (i === me ? 0 : Math.max(0, target(i) - of(held[i]!))));
    const totalDeficit = deficits.reduce((s, d) => s + d, 0);
    if (totalDeficit === 0) return gifts;
    return deficits.map((d) => {
      const g = Math.min(d, Math.floor((surplus * d) / totalDeficit));
      return g >= minGift ? g : 0;
    });
  };
  const caps = plan(capTotal, (r) => r.capScaled);
  const rates = plan(rateTotal, (r) => r.rateParts);
  const out: EscrowGift[] = [];
  regions.forEach((to, i) => {
    if (caps[i]! > 0 || rates[i]! > 0) out.push({ to, cap: caps[i]!, rate: rates[i]! });
  });
  return out;
}

/**
 * The view with every other region's published demand decayed by the age of
 * its item (the reader's clock): a region that stopped writing looks idle,
 * so no rights are given to it on the strength of an old demand (into a cut
 * either), and the regions still asking get them. The region's own item is
 * kept as it is. Advisory, like all of rebalancing.
 */
export function othersDemandDecayed(view: EscrowView, region: string, nowMs: number): EscrowView {
  const decayed = new Map<string, EscrowItem>();
  for (const [r, item] of view) {
    decayed.set(r, r === region ? item : { ...item, dm: demandMilli(escrowDemandAt(item, nowMs)) });
  }
  return decayed;
}

/** Inputs of {@link escrowRebalanceWrite}. */
export interface EscrowRebalanceWriteInput {
  readonly policy: BucketPolicy;
  readonly regions: readonly string[];
  /** The newest items known (the region's own as last read or written). */
  readonly view: EscrowView;
  readonly region: string;
  readonly nowMs: number;
  /** Tokens requested and refused in the region since its item last published demand. @default 0 */
  readonly unpublishedTokens?: number;
  /** Whole tokens to give back to the region's level (see {@link escrowRightsAt}). @default 0 */
  readonly creditTokens?: number;
  readonly options?: EscrowRebalanceOptions;
}

/**
 * The background write of a region's own item, or undefined when it has
 * nothing to say: gifts of its surplus to regions short of their share
 * ({@link planEscrowRebalance}), refused demand to publish, or tokens to give
 * back. Other regions' published demand is decayed by the age of their item
 * (a region that stopped writing looks idle, so no rights are given to it on
 * the strength of an old demand, into a cut either); the region's own demand
 * is its item's, decayed, plus what it refused since.
 */
export function escrowRebalanceWrite(
  input: EscrowRebalanceWriteInput,
): { readonly write: EscrowItem; readonly gifts: readonly EscrowGift[] } | undefined {
  const { policy, regions, view, region, nowMs } = input;
  const unpublished = input.unpublishedTokens ?? 0;
  const credit = input.creditTokens ?? 0;
  const own = view.get(region);
  const ownDemand = demandMilli(escrowDemandAt(own ?? { dm: 0, at: nowMs }, nowMs, unpublished));
  const gifts = planEscrowRebalance({
    policy,
    regions,
    view: othersDemandDecayed(view, region, nowMs),
    region,
    nowMs,
    ownDemandMilli: ownDemand,
    ...(input.options === undefined ? {} : { options: input.options }),
  });
  if (gifts.length === 0 && unpublished === 0 && credit === 0) return undefined;
  const write = escrowWrite({
    policy,
    regions,
    view,
    region,
    nowMs,
    gifts,
    demandMilli: ownDemand,
    creditTokens: credit,
  });
  return { write, gifts };
}
