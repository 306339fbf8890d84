/**
 * The network between AWS regions: how long a round trip from an edge
 * function to a table replica takes, in the simulator and the local runtime.
 *
 * Why: everything else runs at loopback latency, where a store call costs
 * nothing. Lambda@Edge runs in the regional edge cache regions and talks to
 * the nearest replica, 60–180 ms away from some of them. This module says how
 * far, from public measurements, so the rest can be measured against it.
 *
 * The rules:
 * - A link is symmetric (A→B is B→A) and has a median, a 99th percentile
 *   (p99), a loss rate and a floor. Measured pairs come from
 *   {@link MEASURED_RTT_MS} (median and p90 of a year of TCP connects between
 *   regions); the p99 is extrapolated from them by a log-normal fit (below).
 * - A pair without a measurement is estimated from the great-circle distance:
 *   `overhead + stretch × fibre lower bound`, fitted on the measured pairs
 *   ({@link pathStretchFit}), and marked `estimated`.
 * - No figure and no sample is ever below the fibre lower bound, the round
 *   trip of light in glass along the great circle (refractive index 1.47).
 * - {@link linkBetween} is the network round trip only. {@link storeRoundTrip}
 *   adds DynamoDB's own service time ({@link DYNAMODB_SERVICE}): what a store
 *   call on a warm connection costs.
 * - A sample is log-normal around the median with the link's p99; with
 *   probability `lossRate` a packet of the round trip is lost and the round
 *   trip also waits Linux's retransmission timeout (at least 200 ms on top of
 *   the smoothed round trip).
 *
 * Pure: no I/O, no clock, randomness passed in; every figure cites its source
 * (docs/network-model.md has them all, with dates).
 */

import { REGION_LOCATIONS, regionDistanceKm } from '../../functions/edge/region-map';
import { MEASURED_ON, MEASURED_RTT_MS } from './rtt-data';

/** One network path as the model sees it (a round trip; symmetric). */
export interface LinkModel {
  /** Median round trip, ms (without a lost packet). */
  readonly medianMs: number;
  /** 99th percentile round trip, ms (without a lost packet). */
  readonly p99Ms: number;
  /** Probability that a round trip loses a packet and waits a retransmission timeout. */
  readonly lossRate: number;
  /** True when the figures are derived from distance, not measured. */
  readonly estimated: boolean;
  /** Where the figures come from, with the date of the measurement. */
  readonly source: string;
  /** The fibre lower bound of the path, ms: no sample is below it. */
  readonly floorMs: number;
}

/** A service's own time to answer a request, ms. */
export interface ServiceTimeModel {
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly source: string;
}

/** Thrown for a region the model knows nothing about. */
export class UnknownRegionError extends RangeError {
  override readonly name = 'UnknownRegionError';
  constructor(readonly region: string) {
    super(
      `unknown AWS region '${region}': the network model knows ${knownRegions().length} regions (${knownRegions().join(', ')})`,
    );
  }
}

/**
 * The AWS regions that host regional edge caches, where Lambda@Edge runs
 * (CloudFront's list as of 2025; AWS adds more over time).
 */
export const REGIONAL_EDGE_CACHE_REGIONS: readonly string[] = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'ca-central-1',
  'sa-east-1',
  'eu-west-1',
  'eu-west-2',
  'eu-central-1',
  'ap-south-1',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-southeast-1',
  'ap-southeast-2',
];

/** Regions a table replica is likely to be in: the edge regions and ten more. */
export const LIKELY_REPLICA_REGIONS: readonly string[] = [
  ...REGIONAL_EDGE_CACHE_REGIONS,
  'af-south-1',
  'me-south-1',
  'eu-north-1',
  'eu-west-3',
  'ap-east-1',
  'ap-northeast-3',
  'ap-south-2',
  'ap-southeast-3',
  'ca-west-1',
];

/** Speed of light in vacuum, km per ms. */
export const SPEED_OF_LIGHT_KM_PER_MS = 299.792458;

/** Refractive index of optical fibre: light in glass travels at c / 1.47. */
export const FIBRE_REFRACTIVE_INDEX = 1.47;

/**
 * Linux's minimum retransmission timeout (TCP_RTO_MIN = HZ/5 in
 * include/net/tcp.h). Linux sets RTO = SRTT + RTTVAR with RTTVAR never below
 * this minimum (tcp_rtt_estimator / __tcp_set_rto), so a lost packet is
 * resent no sooner than the smoothed round trip plus 200 ms.
 */
export const TCP_MIN_RTO_MS = 200;

/**
 * Share of round trips that lose a packet, within one region and between
 * regions. An assumption: no public per-pair loss figures exist for AWS; a
 * VM-to-VM study of inter-continental cloud paths (Haq, Raja, Dogar, "Measuring
 * and Improving the Reliability of Wide-Area Cloud Paths", WWW 2017) found
 * loss an order of magnitude below public Internet paths. Both rates are
 * below 1 %, so they shape the tail beyond p99, not p99 itself.
 */
export const SAME_REGION_LOSS_RATE = 0.0001;
export const INTER_REGION_LOSS_RATE = 0.001;

/**
 * DynamoDB's service time for a single-item read or write (from the request
 * reaching the endpoint to the response leaving it), added by
 * {@link storeRoundTrip}. An assumption within AWS's statements, not a
 * measurement: AWS describes single-digit-millisecond average service-side
 * latency for GetItem/PutItem-style operations and expects occasional
 * spikes in the high percentiles (DynamoDB Developer Guide, "Troubleshooting
 * latency issues", and AWS Knowledge Center, "Why is my Amazon DynamoDB
 * maximum latency metric high when the average latency is normal?", last
 * updated 2022-09-07, whose example has 99 of 100 requests at 10 ms).
 */
export const DYNAMODB_SERVICE: ServiceTimeModel = {
  medianMs: 3,
  p99Ms: 10,
  source:
    'assumption within AWS statements: single-digit-millisecond average service time (DynamoDB Developer Guide, Troubleshooting latency issues; AWS Knowledge Center, 2022-09-07)',
};

/** Standard normal quantiles of the 90th and 99th percentiles. */
const Z90 = 1.2815515655446004;
const Z99 = 2.3263478740408408;

/**
 * The p99 of a log-normal through a median and a p90:
 * σ = ln(p90 / p50) / z90, p99 = p50 · e^(z99 σ).
 */
export function p99FromMedianAndP90(medianMs: number, p90Ms: number): number {
  return medianMs * (p90Ms / medianMs) ** (Z99 / Z90);
}

/** The key of an unordered region pair in {@link MEASURED_RTT_MS}. */
export function pairKey(a: string, b: string): string {
  return a <= b ? `${a}|${b}` : `${b}|${a}`;
}

let known: readonly string[] | undefined;

/** Every region the model can answer for, sorted. */
export function knownRegions(): readonly string[] {
  if (known === undefined) {
    const set = new Set(Object.keys(REGION_LOCATIONS));
    for (const key of Object.keys(MEASURED_RTT_MS)) for (const r of key.split('|')) set.add(r);
    known = [...set].sort();
  }
  return known;
}

function requireKnown(region: string): void {
  if (!knownRegions().includes(region)) throw new UnknownRegionError(region);
}

/**
 * The fibre lower bound between two regions, ms: 2 × distance / (c / 1.47).
 * 0 for a region to itself or where either location is unknown.
 */
export function fibreLowerBoundMs(a: string, b: string): number {
  requireKnown(a);
  requireKnown(b);
  if (a === b) return 0;
  const km = regionDistanceKm(a, b);
  if (km === undefined) return 0;
  return (2 * km) / (SPEED_OF_LIGHT_KM_PER_MS / FIBRE_REFRACTIVE_INDEX);
}

/** The distance fit used for pairs without a measurement. */
export interface PathStretchFit {
  /** Fixed cost of a round trip between regions, ms (endpoints, name lookup). */
  readonly overheadMs: number;
  /** Measured median over the fibre lower bound, beyond the overhead. */
  readonly stretch: number;
  /** Inter-region pairs the fit was made on. */
  readonly pairs: number;
  /** Median and 90th percentile of |estimate − measured| / measured over those pairs. */
  readonly medianRelativeError: number;
  readonly p90RelativeError: number;
  /** Median p90/median ratio of the measured inter-region pairs (used for estimated ones). */
  readonly p90Ratio: number;
  /** Median of the measured same-region medians and their p90 ratio. */
  readonly sameRegionMedianMs: number;
  readonly sameRegionP90Ratio: number;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

let fit: PathStretchFit | undefined;

/**
 * `median ≈ overhead + stretch × fibre bound`, fitted on every measured
 * inter-region pair with known locations by least squares of the log error
 * (overhead on a 0.1 ms grid, stretch the geometric mean for each overhead).
 */
export function pathStretchFit(): PathStretchFit {
  if (fit !== undefined) return fit;
  const points: { boundMs: number; medianMs: number; p90Ms: number }[] = [];
  const sameMedians: number[] = [];
  const sameRatios: number[] = [];
  for (const [key, [p50, p90]] of Object.entries(MEASURED_RTT_MS)) {
    const [a, b] = key.split('|') as [string, string];
    if (a === b) {
      sameMedians.push(p50);
      sameRatios.push(p90 / p50);
      continue;
    }
    const km = regionDistanceKm(a, b);
    if (km === undefined || km === 0) continue;
    points.push({ boundMs: fibreLowerBoundMs(a, b), medianMs: p50, p90Ms: p90 });
  }
  if (points.length === 0) throw new RangeError('the network model has no measured pairs to fit');
  const smallest = Math.min(...points.map((p) => p.medianMs));
  let best = { error: Number.POSITIVE_INFINITY, overheadMs: 0, stretch: 1 };
  for (let tenths = 0; tenths / 10 < smallest; tenths++) {
    const overheadMs = tenths / 10;
    const logs = points.map((p) => Math.log((p.medianMs - overheadMs) / p.boundMs));
    const stretch = Math.exp(logs.reduce((s, v) => s + v, 0) / logs.length);
    const error =
      points.reduce(
        (s, p) => s + Math.log((overheadMs + stretch * p.boundMs) / p.medianMs) ** 2,
        0,
      ) / points.length;
    if (error < best.error) best = { error, overheadMs, stretch };
  }
  const relative = points.map(
    (p) => Math.abs(best.overheadMs + best.stretch * p.boundMs - p.medianMs) / p.medianMs,
  );
  fit = {
    overheadMs: best.overheadMs,
    stretch: best.stretch,
    pairs: points.length,
    medianRelativeError: median(relative),
    p90RelativeError: quantile(relative, 0.9),
    p90Ratio: median(points.map((p) => p.p90Ms / p.medianMs)),
    sameRegionMedianMs: median(sameMedians),
    sameRegionP90Ratio: median(sameRatios),
  };
  return fit;
}

const MEASURED_SOURCE = `cloudping.co TCP connect to the DynamoDB endpoint, 1-year median and p90 to ${MEASURED_ON}; p99 extrapolated log-normally from them`;

/**
 * The network round trip between two regions (no service time: see
 * {@link storeRoundTrip}). Symmetric; a region to itself is the same-region
 * round trip to the regional endpoint.
 *
 * @throws {@link UnknownRegionError} for a region the model does not know.
 */
export function linkBetween(from: string, to: string): LinkModel {
  requireKnown(from);
  requireKnown(to);
  const floorMs = fibreLowerBoundMs(from, to);
  const lossRate = from === to ? SAME_REGION_LOSS_RATE : INTER_REGION_LOSS_RATE;
  const measured = MEASURED_RTT_MS[pairKey(from, to)];
  if (measured !== undefined) {
    const medianMs = Math.max(floorMs, measured[0]);
    const p90Ms = Math.max(medianMs, measured[1]);
    return {
      medianMs,
      p99Ms: p99FromMedianAndP90(medianMs, p90Ms),
      lossRate,
      estimated: false,
      source: MEASURED_SOURCE,
      floorMs,
    };
  }
  const f = pathStretchFit();
  if (from === to) {
    return {
      medianMs: f.sameRegionMedianMs,
      p99Ms: p99FromMedianAndP90(f.sameRegionMedianMs, f.sameRegionMedianMs * f.sameRegionP90Ratio),
      lossRate,
      estimated: true,
      source: `estimated: the median same-region round trip of the measured regions (cloudping.co, to ${MEASURED_ON})`,
      floorMs,
    };
  }
  if (regionDistanceKm(from, to) === undefined) {
    throw new RangeError(
      `no measurement between ${from} and ${to} and no location to estimate one from (functions/edge/region-map.ts)`,
    );
  }
  const medianMs = Math.max(floorMs, f.overheadMs + f.stretch * floorMs);
  return {
    medianMs,
    p99Ms: p99FromMedianAndP90(medianMs, medianMs * f.p90Ratio),
    lossRate,
    estimated: true,
    source: `estimated: ${f.overheadMs.toFixed(1)} ms + ${f.stretch.toFixed(3)} × fibre lower bound (fitted on ${f.pairs} measured pairs, cloudping.co to ${MEASURED_ON})`,
    floorMs,
  };
}

/**
 * What a store call from an edge region to a replica costs on a warm
 * connection: the network round trip plus DynamoDB's service time. Medians
 * add; the tails add in quadrature (independent delays rarely peak together):
 * p99 = median + √((link p99 − link median)² + (service p99 − service median)²).
 *
 * @throws {@link UnknownRegionError} for a region the model does not know.
 */
export function storeRoundTrip(edgeRegion: string, replicaRegion: string): LinkModel {
  const link = linkBetween(edgeRegion, replicaRegion);
  const service = DYNAMODB_SERVICE;
  const medianMs = link.medianMs + service.medianMs;
  return {
    medianMs,
    p99Ms: medianMs + Math.hypot(link.p99Ms - link.medianMs, service.p99Ms - service.medianMs),
    lossRate: link.lossRate,
    estimated: link.estimated,
    source: `${link.source}; plus DynamoDB service time (${service.source})`,
    floorMs: link.floorMs,
  };
}

/** How long a lost packet delays a round trip on `link`: Linux's RTO, SRTT + max(RTTVAR, 200 ms). */
export function retransmissionTimeoutMs(link: LinkModel): number {
  return link.medianMs + TCP_MIN_RTO_MS;
}

function checkLink(link: LinkModel): void {
  const problems: string[] = [];
  if (!(Number.isFinite(link.medianMs) && link.medianMs > 0))
    problems.push(`medianMs must be a positive number (got ${link.medianMs})`);
  if (!(Number.isFinite(link.p99Ms) && link.p99Ms >= link.medianMs))
    problems.push(`p99Ms must be a number ≥ medianMs (got ${link.p99Ms})`);
  if (!(link.lossRate >= 0 && link.lossRate <= 1))
    problems.push(`lossRate must be within [0, 1] (got ${link.lossRate})`);
  if (!(Number.isFinite(link.floorMs) && link.floorMs >= 0 && link.floorMs <= link.medianMs))
    problems.push(`floorMs must be within [0, medianMs] (got ${link.floorMs})`);
  if (problems.length > 0) throw new RangeError(`invalid link: ${problems.join('; ')}`);
}

function uniform(random: () => number): number {
  const u = random();
  if (!(u >= 0 && u < 1))
    throw new RangeError(`random() must return a number in [0, 1) (got ${u})`);
  return u;
}

/**
 * One round trip on `link`, ms: log-normal with the link's median and p99,
 * never below its floor, plus a retransmission timeout with probability
 * `lossRate`. Draws exactly two numbers from `random` (uniform in [0, 1)),
 * so a seeded stream gives the same samples everywhere.
 */
export function sampleRoundTripMs(link: LinkModel, random: () => number): number {
  checkLink(link);
  const jitter = uniform(random);
  const loss = uniform(random);
  const sigma = Math.log(link.p99Ms / link.medianMs) / Z99;
  const base = Math.max(link.floorMs, link.medianMs * Math.exp(sigma * normalQuantile(jitter)));
  return loss < link.lossRate ? base + retransmissionTimeoutMs(link) : base;
}

/**
 * The standard normal quantile Φ⁻¹(p) (Acklam's rational approximation,
 * relative error below 1.2e-9); p is clamped into (0, 1).
 */
export function normalQuantile(p: number): number {
  const q = Math.min(1 - 1e-15, Math.max(1e-15, p));
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2,
    -3.066479806614716e1, 2.506628277459239,
  ];
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1,
    -1.328068155288572e1,
  ];
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734,
    4.374664141464968, 2.938163982698783,
  ];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  const tail = (r: number) =>
    (((((c[0]! * r + c[1]!) * r + c[2]!) * r + c[3]!) * r + c[4]!) * r + c[5]!) /
    ((((d[0]! * r + d[1]!) * r + d[2]!) * r + d[3]!) * r + 1);
  if (q < low) return tail(Math.sqrt(-2 * Math.log(q)));
  if (q > 1 - low) return -tail(Math.sqrt(-2 * Math.log(1 - q)));
  const x = q - 0.5;
  const r = x * x;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * x) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}
