/**
 * DynamoDB on-demand cost model: turns the store traffic a benchmark measured
 * into request units and dollars. Why explicit: the limiter's main running
 * cost is its writes, multiplied by the number of replicas of the global
 * table, so the report must show the arithmetic and the prices it used, with
 * their date, rather than a bare dollar figure.
 *
 * Billing rules modelled (DynamoDB on-demand, standard table class):
 * - a write of an item up to 1 KB is 1 write request unit (WRU); dynalite's
 *   `ConsumedCapacity` gives the units of each successful write;
 * - a write rejected by its condition still costs 1 WRU in the region that
 *   received it and is not replicated;
 * - on a global table every successful write is billed once per replica as a
 *   replicated write request unit (rWRU), the receiving region included;
 * - a read is billed per 4 KB read: 1 RRU strongly consistent, 0.5 RRU
 *   eventually consistent (a Query sums its items before rounding up).
 */

/** On-demand prices of one region. */
export interface PriceSheet {
  /** The AWS region the prices apply to. */
  readonly region: string;
  /** When these prices took effect (ISO date). */
  readonly effectiveDate: string;
  /** When and where they were read, for the report. */
  readonly source: string;
  /** USD per million write request units (single-region tables). */
  readonly writeRequestUnitUsdPerMillion: number;
  /** USD per million read request units. */
  readonly readRequestUnitUsdPerMillion: number;
  /** USD per million replicated write request units (global tables). */
  readonly replicatedWriteRequestUnitUsdPerMillion: number;
}

/**
 * us-east-1 on-demand prices after the price cut AWS applied on 2024-11-01
 * (on-demand throughput −50 %, global-table replicated writes priced like
 * single-region writes). Read from public write-ups of that change dated
 * July–August 2025; check the AWS DynamoDB on-demand pricing page before
 * relying on the dollar figures.
 */
export const US_EAST_1_ON_DEMAND: PriceSheet = {
  region: 'us-east-1',
  effectiveDate: '2024-11-01',
  source:
    'AWS on-demand price cut of 2024-11-01 as quoted by public DynamoDB pricing write-ups dated 2025-07/2025-08; not re-checked against the live AWS price list (no network)',
  writeRequestUnitUsdPerMillion: 0.625,
  readRequestUnitUsdPerMillion: 0.125,
  replicatedWriteRequestUnitUsdPerMillion: 0.625,
};

/** Store traffic measured for a number of decisions. */
export interface StoreTraffic {
  /** Decisions the traffic served. */
  readonly decisions: number;
  /** Successful write calls (UpdateItem, PutItem, DeleteItem). */
  readonly writeCalls: number;
  /** Write calls rejected by their condition (billed, not replicated). */
  readonly failedConditionalWrites: number;
  /** Read calls (GetItem, Query, Scan). */
  readonly readCalls: number;
  /** WRU of the successful writes, as the store reported them. */
  readonly writeUnits: number;
  /** RRU of the reads, as the store reported them. */
  readonly readUnits: number;
}

/** Request units and dollars derived from {@link StoreTraffic}. */
export interface CostEstimate {
  /** Store write calls (successful + failed conditional) per 1,000 decisions. */
  readonly writesPer1000: number;
  /** Store read calls per 1,000 decisions. */
  readonly readsPer1000: number;
  /** WRU per 1,000 decisions in the receiving region (failed conditional writes included). */
  readonly wruPer1000: number;
  /** RRU per 1,000 decisions. */
  readonly rruPer1000: number;
  /** rWRU per 1,000 decisions on a global table of `replicas` replicas. */
  readonly rwruPer1000: number;
  /** Number of replicas the estimate assumes. */
  readonly replicas: number;
  /** USD per million decisions on the global table (rWRU + RRU). */
  readonly usdPerMillionDecisions: number;
}

/**
 * Converts measured traffic into request units per 1,000 decisions and a
 * dollar cost per million decisions on a global table.
 *
 * @param traffic - what the store served; `decisions` must be positive
 * @param replicas - replicas of the global table (≥ 1)
 * @param prices - the price sheet (defaults to us-east-1 on-demand)
 * @throws RangeError on a non-positive decision count or replica count
 */
export function estimateCost(
  traffic: StoreTraffic,
  replicas: number,
  prices: PriceSheet = US_EAST_1_ON_DEMAND,
): CostEstimate {
  if (!(traffic.decisions > 0)) throw new RangeError('traffic.decisions must be positive');
  if (!(Number.isInteger(replicas) && replicas >= 1)) {
    throw new RangeError(`replicas must be a positive integer (got ${replicas})`);
  }
  const per1000 = 1000 / traffic.decisions;
  const failedUnits = traffic.failedConditionalWrites;
  const wru = traffic.writeUnits + failedUnits;
  const rwru = traffic.writeUnits * replicas + failedUnits;
  const totalUsd =
    (rwru * prices.replicatedWriteRequestUnitUsdPerMillion +
      traffic.readUnits * prices.readRequestUnitUsdPerMillion) /
    1e6;
  return {
    writesPer1000: (traffic.writeCalls + traffic.failedConditionalWrites) * per1000,
    readsPer1000: traffic.readCalls * per1000,
    wruPer1000: wru * per1000,
    rruPer1000: traffic.readUnits * per1000,
    rwruPer1000: rwru * per1000,
    replicas,
    usdPerMillionDecisions: (totalUsd / traffic.decisions) * 1e6,
  };
}
