/**
 * What `consistency: 'escrow'` costs and buys beside `eventual` (`npm run
 * bench`, part `escrow`; docs/escrow.md).
 *
 * How: the real `Limiter` on virtual time, over in-memory tables whose every
 * call takes one round trip (`roundTripMs`), so waits count round trips, not
 * this machine's speed. Two tables:
 *
 * - **store calls and latency**: one container in us-east-1 (of the shipped
 *   config's regions), one policy (300 tokens, 150 a second) as `eventual`
 *   (its defaults: takes and leases) and as `escrow`; a busy key under its
 *   region's share of the refill, a new key on every request, and one key
 *   asked for more than its region's share (its refusals show what a refusal
 *   costs);
 * - **a cut**: three regions, each a container over its own replica,
 *   replicating every `replicationMs` like a global table (newest version
 *   wins), sharing one bucket with uneven demand, us-east-1 cut off from the
 *   others in the middle of the run. Admissions are compared with the exact
 *   bucket's on the same arrivals, and the worst window with the exact
 *   bucket's envelope `C + R·|W|`.
 */
import type { LimiterConfig, PolicyConfig } from '../functions/config/schema';
import {
  applySlotWrite,
  applyTakeWrite,
  type EscrowItem,
  type SlotItem,
  type SlotWrite,
  type TakeWrite,
} from '../functions/core';
import { Limiter } from '../functions/limiter/limiter';
import {
  type BucketStore,
  EscrowConflictError,
  StoreConflictError,
  type TakeResult,
} from '../functions/store/types';
import { config as projectConfig } from '../limiter.config';
import { TokenBucket } from '../sim/bucket-math';
import { VirtualTime } from '../sim/virtual-time';
import { percentile } from './stats';

/** The two ways of sharing a bucket compared. */
export type EscrowBenchConsistency = 'eventual' | 'escrow';

/** One workload in one consistency mode, one container. */
export interface EscrowCallsRow {
  readonly workload: 'busy-key' | 'cold-keys' | 'over-demand';
  readonly consistency: EscrowBenchConsistency;
  readonly requests: number;
  readonly admitted: number;
  /** Store calls of the run (background ones included), reads and writes. */
  readonly storeCalls: number;
  readonly reads: number;
  readonly writes: number;
  readonly storeCallsPerAdmitted: number;
  readonly readsPerAdmitted: number;
  readonly writesPerAdmitted: number;
  /** Virtual time the caller waited for the limiter (ms). */
  readonly waitP50Ms: number;
  readonly waitP99Ms: number;
  readonly refused: number;
  /**
   * Store calls started while a refused request was being decided, and the
   * writes among them: a background read the decision set off counts here.
   */
  readonly callsDuringRefused: number;
  readonly writesDuringRefused: number;
  /** `callsDuringRefused` per refused request (0 when none was refused). */
  readonly storeCallsPerRefused: number;
  /** Decisions a failure mode took instead of the store (0 expected: the store never fails). */
  readonly fallbacks: number;
}

/** The cut run in one consistency mode. */
export interface EscrowCutRow {
  readonly consistency: EscrowBenchConsistency;
  readonly requests: number;
  /** Tokens admitted by all regions together. */
  readonly admitted: number;
  /** What the exact bucket admits on the same arrivals. */
  readonly ideal: number;
  readonly admittedPercentOfIdeal: number;
  /** Admitted per region. */
  readonly admittedByRegion: Readonly<Record<string, number>>;
  /** max over windows [t_i, t_j] of (admissions in it − (C + R·|W|)), clamped at 0 (tokens). */
  readonly worstWindowExcessTokens: number;
}

/** The part's result. */
export interface EscrowBenchResult {
  readonly roundTripMs: number;
  readonly region: string;
  readonly regions: readonly string[];
  readonly rebalanceMs: number;
  /** The first table's policy. */
  readonly callsPolicy: { readonly capacityTokens: number; readonly refillTokensPerSecond: number };
  readonly seconds: number;
  readonly rates: {
    readonly busyPerSecond: number;
    readonly coldPerSecond: number;
    readonly overDemandPerSecond: number;
    /** Tokens each over-demand request costs (the others cost 1). */
    readonly overDemandCostTokens: number;
  };
  readonly rows: readonly EscrowCallsRow[];
  readonly cut: {
    readonly policy: { readonly capacityTokens: number; readonly refillTokensPerSecond: number };
    readonly seconds: number;
    readonly cutFromS: number;
    readonly cutToS: number;
    readonly replicationMs: number;
    /** Requests per second per region. */
    readonly demandPerSecond: Readonly<Record<string, number>>;
    readonly rows: readonly EscrowCutRow[];
  };
}

/** Sizes of the part. */
export interface EscrowBenchSizes {
  /** Virtual seconds each workload of the first table runs. */
  readonly seconds: number;
  /** Virtual seconds of the cut run. */
  readonly cutRunSeconds: number;
  /** Length of the cut (s), centred in the run. */
  readonly cutSeconds: number;
}

/** One store round trip (ms): a nearby replica. */
const ROUND_TRIP_MS = 20;
/** The region measured alone (the first of the shipped config's). */
const REGION = 'us-east-1';
/** The Limiter's default time between two background reads of an escrow bucket (ms). */
const REBALANCE_MS = 1000;
/** First table: 300 tokens, 150 a second, so an eventual policy leases by default. */
const CALLS_POLICY = { capacityTokens: 300, refillTokens: 150, refillIntervalMs: 1000 } as const;
/** Busy and cold workloads: under a third of the refill (one region's share). */
const BUSY_RATE = 40;
/**
 * Over-demand: one key at the busy rate, 10 tokens a request (400 tokens a
 * second, above the whole refill), so both modes refuse. Not more requests:
 * an escrow admission is a round trip, so one container admits at most one a
 * round trip (50 a second here, a third of the refill), and more requests
 * would only queue.
 */
const OVER_DEMAND_COST = 10;
/** The cut run's shared bucket. */
const CUT_POLICY = { capacityTokens: 100, refillTokens: 10, refillIntervalMs: 1000 } as const;
/** Requests per second per region in the cut run (the others at the same rate). */
const CUT_DEMAND_EAST = 20;
const CUT_DEMAND_OTHERS = 5;
/** Replication period of the cut run (ms). */
const REPLICATION_MS = 100;
const POLICY_ID = 'bench';
const START_MS = Date.parse('2026-12-01T12:00:00Z');

/**
 * One replica of the table in memory: slot items and escrow items, every call
 * one round trip of virtual time, writes applied with the store contract's
 * conditions (functions/store/types.ts).
 */
class RoundTripTable implements BucketStore {
  readonly #slots = new Map<string, SlotItem>();
  /** bucket id → region → item. */
  readonly #escrow = new Map<string, Map<string, EscrowItem>>();
  calls = 0;
  reads = 0;
  writes = 0;

  constructor(
    private readonly time: VirtualTime,
    private readonly roundTripMs: number,
  ) {}

  async readView(bucketId: string): Promise<SlotItem[]> {
    await this.#trip('read');
    return [...this.#slots.entries()]
      .filter(([k]) => k.startsWith(`${bucketId}|`))
      .map(([, v]) => v);
  }

  async readSlot(bucketId: string, slot: string): Promise<SlotItem | undefined> {
    await this.#trip('read');
    return this.#slots.get(`${bucketId}|${slot}`);
  }

  async applyWrite(bucketId: string, write: SlotWrite): Promise<SlotItem> {
    await this.#trip('write');
    const key = `${bucketId}|${write.slot}`;
    const current = this.#slots.get(key);
    const next = applySlotWrite(current, write);
    if (next === undefined) throw new StoreConflictError(current);
    this.#slots.set(key, next);
    return next;
  }

  async applyTake(bucketId: string, take: TakeWrite): Promise<TakeResult> {
    await this.#trip('write');
    const key = `${bucketId}|${take.slot}`;
    const before = this.#slots.get(key);
    const after = applyTakeWrite(before, take);
    if (after === undefined) throw new StoreConflictError(before);
    this.#slots.set(key, after);
    return { before, after };
  }

  async readEscrow(bucketId: string): Promise<EscrowItem[]> {
    await this.#trip('read');
    return [...(this.#escrow.get(bucketId)?.values() ?? [])];
  }

  async writeEscrow(bucketId: string, item: EscrowItem): Promise<void> {
    await this.#trip('write');
    const items = this.#escrow.get(bucketId) ?? new Map<string, EscrowItem>();
    const current = items.get(item.region);
    // No item counts as version 0.
    if ((current?.v ?? 0) !== item.v - 1) throw new EscrowConflictError(current);
    items.set(item.region, item);
    this.#escrow.set(bucketId, items);
  }

  /**
   * Copies this replica's items into `other` as a global table does: an item
   * replaces the other's copy when its version is newer (per bucket and slot,
   * per bucket and region). Costs no virtual time and counts no call.
   */
  replicateTo(other: RoundTripTable): void {
    for (const [key, item] of this.#slots) {
      const theirs = other.#slots.get(key);
      if (theirs === undefined || theirs.v < item.v) other.#slots.set(key, item);
    }
    for (const [bucketId, items] of this.#escrow) {
      const theirs = other.#escrow.get(bucketId) ?? new Map<string, EscrowItem>();
      for (const [region, item] of items) {
        if ((theirs.get(region)?.v ?? 0) < item.v) theirs.set(region, item);
      }
      other.#escrow.set(bucketId, theirs);
    }
  }

  async #trip(kind: 'read' | 'write'): Promise<void> {
    this.calls += 1;
    if (kind === 'read') this.reads += 1;
    else this.writes += 1;
    await this.time.sleep(this.roundTripMs);
  }
}

/** The shipped config (regions, runtime) with one policy and no rules. */
function configOf(
  consistency: EscrowBenchConsistency,
  bucket: { capacityTokens: number; refillTokens: number; refillIntervalMs: number },
): LimiterConfig {
  const policy: PolicyConfig = {
    id: POLICY_ID,
    ...bucket,
    consistency,
    // `local` is refused for escrow; the store never fails here, so the mode decides nothing.
    onStoreError: 'closed',
  };
  return { ...projectConfig, policies: [policy], rules: [] };
}

function perAdmitted(count: number, admitted: number): number {
  return admitted === 0 ? 0 : count / admitted;
}

async function runCallsWorkload(
  workload: EscrowCallsRow['workload'],
  consistency: EscrowBenchConsistency,
  seconds: number,
): Promise<EscrowCallsRow> {
  const time = new VirtualTime(START_MS);
  const store = new RoundTripTable(time, ROUND_TRIP_MS);
  const limiter = new Limiter({
    config: configOf(consistency, CALLS_POLICY),
    region: REGION,
    store,
    time,
    escrowRebalanceMs: REBALANCE_MS,
  });
  const rate = BUSY_RATE;
  const costTokens = workload === 'over-demand' ? OVER_DEMAND_COST : 1;
  const gapMs = 1000 / rate;
  const total = Math.round(seconds * rate);
  const waits: number[] = [];
  let admitted = 0;
  let callsDuringRefused = 0;
  let writesDuringRefused = 0;
  for (let i = 0; i < total; i++) {
    const key = workload === 'cold-keys' ? `bench-key-${i}` : 'bench-key';
    const startMs = time.now();
    const callsBefore = store.calls;
    const writesBefore = store.writes;
    const result = await time.run(limiter.limit({ policyId: POLICY_ID, key, costTokens }));
    waits.push(time.now() - startMs);
    if (result.allowed) admitted += 1;
    else {
      callsDuringRefused += store.calls - callsBefore;
      writesDuringRefused += store.writes - writesBefore;
    }
    // One container serves one request at a time; the next arrives a gap after this one did.
    const nextMs = startMs + gapMs;
    if (time.now() < nextMs) await time.advance(Math.round(nextMs - time.now()));
  }
  await time.run(limiter.settled());
  const sorted = [...waits].sort((a, b) => a - b);
  return {
    workload,
    consistency,
    requests: total,
    admitted,
    storeCalls: store.calls,
    reads: store.reads,
    writes: store.writes,
    storeCallsPerAdmitted: perAdmitted(store.calls, admitted),
    readsPerAdmitted: perAdmitted(store.reads, admitted),
    writesPerAdmitted: perAdmitted(store.writes, admitted),
    waitP50Ms: percentile(sorted, 50),
    waitP99Ms: percentile(sorted, 99),
    refused: total - admitted,
    callsDuringRefused,
    writesDuringRefused,
    storeCallsPerRefused: total === admitted ? 0 : callsDuringRefused / (total - admitted),
    fallbacks: limiter.counters.fallbacks,
  };
}

/** Arrival times (ms from the start) of each region in the cut run: evenly spaced, offset per region. */
function cutArrivals(
  regions: readonly string[],
  seconds: number,
): { region: string; atMs: number[] }[] {
  return regions.map((region, i) => {
    const rate = region === REGION ? CUT_DEMAND_EAST : CUT_DEMAND_OTHERS;
    const gapMs = 1000 / rate;
    const offsetMs = i * 7;
    const atMs: number[] = [];
    for (let t = offsetMs; t < seconds * 1000; t += gapMs) atMs.push(Math.round(t));
    return { region, atMs };
  });
}

/** Admissions of the exact bucket (one bucket, no regions) on the merged arrivals. */
export function exactAdmissions(
  arrivalsMs: readonly number[],
  bucket: { readonly capacityTokens: number; readonly refillTokensPerSecond: number },
): number {
  // Units of a thousandth of a token: the refill per ms is then a whole number of units.
  const bucketUnits = new TokenBucket(bucket.capacityTokens * 1000, bucket.refillTokensPerSecond);
  let admitted = 0;
  for (const t of [...arrivalsMs].sort((a, b) => a - b)) {
    if (bucketUnits.tryTake(t, 1000)) admitted += 1;
  }
  return admitted;
}

/**
 * The worst over-admission of a sequence of admissions of one token each
 * against the exact bucket's envelope: max over windows [t_i, t_j] of
 * (admissions in it − (C + R·(t_j − t_i))), clamped at 0, in tokens.
 */
export function worstWindowExcessTokens(
  admittedAtMs: readonly number[],
  bucket: { readonly capacityTokens: number; readonly refillTokensPerSecond: number },
): number {
  const t = [...admittedAtMs].sort((a, b) => a - b);
  let worst = 0;
  for (let i = 0; i < t.length; i++) {
    for (let j = i; j < t.length; j++) {
      const windowMs = (t[j] as number) - (t[i] as number);
      const excess =
        j - i + 1 - bucket.capacityTokens - (bucket.refillTokensPerSecond * windowMs) / 1000;
      if (excess > worst) worst = excess;
    }
  }
  return worst;
}

async function runCut(
  consistency: EscrowBenchConsistency,
  sizes: EscrowBenchSizes,
  regions: readonly string[],
): Promise<EscrowCutRow> {
  const time = new VirtualTime(START_MS);
  const config = configOf(consistency, CUT_POLICY);
  const stores = regions.map(() => new RoundTripTable(time, ROUND_TRIP_MS));
  const limiters = regions.map(
    (region, i) =>
      new Limiter({
        config,
        region,
        store: stores[i] as RoundTripTable,
        time,
        escrowRebalanceMs: REBALANCE_MS,
      }),
  );
  const runMs = sizes.cutRunSeconds * 1000;
  const cutFromMs = (runMs - sizes.cutSeconds * 1000) / 2;
  const cutToMs = cutFromMs + sizes.cutSeconds * 1000;
  const cutOff = (a: number, b: number) => {
    const elapsed = time.now() - START_MS;
    const east = regions.indexOf(REGION);
    return elapsed >= cutFromMs && elapsed < cutToMs && (a === east) !== (b === east);
  };
  const arrivals = cutArrivals(regions, sizes.cutRunSeconds);
  const admittedAt: number[] = [];
  const admittedByRegion: Record<string, number> = {};
  const serve = async (i: number, atMs: readonly number[]) => {
    const region = regions[i] as string;
    admittedByRegion[region] = 0;
    for (const at of atMs) {
      const waitMs = START_MS + at - time.now();
      if (waitMs > 0) await time.sleep(waitMs);
      const startedMs = time.now() - START_MS;
      const r = await (limiters[i] as Limiter).limit({
        policyId: POLICY_ID,
        key: 'shared',
        costTokens: 1,
      });
      if (r.allowed) {
        admittedAt.push(startedMs);
        admittedByRegion[region] = (admittedByRegion[region] ?? 0) + 1;
      }
    }
  };
  const replicate = async () => {
    while (time.now() - START_MS < runMs) {
      await time.sleep(REPLICATION_MS);
      for (let a = 0; a < stores.length; a++) {
        for (let b = 0; b < stores.length; b++) {
          if (a !== b && !cutOff(a, b))
            (stores[a] as RoundTripTable).replicateTo(stores[b] as RoundTripTable);
        }
      }
    }
  };
  await time.run(
    Promise.all([replicate(), ...arrivals.map((a, i) => serve(i, a.atMs))]).then(() =>
      Promise.all(limiters.map((l) => l.settled())),
    ),
    { stepMs: 100, maxMs: runMs + 60_000 },
  );
  const bucket = {
    capacityTokens: CUT_POLICY.capacityTokens,
    refillTokensPerSecond: CUT_POLICY.refillTokens,
  };
  const all = arrivals.flatMap((a) => a.atMs);
  const ideal = exactAdmissions(all, bucket);
  return {
    consistency,
    requests: all.length,
    admitted: admittedAt.length,
    ideal,
    admittedPercentOfIdeal: ideal === 0 ? 0 : (100 * admittedAt.length) / ideal,
    admittedByRegion,
    worstWindowExcessTokens: worstWindowExcessTokens(admittedAt, bucket),
  };
}

/**
 * Measures both tables in both consistency modes.
 *
 * @throws RangeError when a size is not a positive whole number of seconds or
 * the cut does not fit in its run (every problem named at once).
 */
export async function measureEscrow(sizes: EscrowBenchSizes): Promise<EscrowBenchResult> {
  const problems = Object.entries(sizes)
    .filter(([, value]) => !(Number.isInteger(value) && value > 0))
    .map(([name, value]) => `${name} must be a positive whole number of seconds (got ${value})`);
  if (sizes.cutSeconds >= sizes.cutRunSeconds) {
    problems.push(
      `cutSeconds (${sizes.cutSeconds}) must be shorter than cutRunSeconds (${sizes.cutRunSeconds})`,
    );
  }
  if (problems.length > 0) throw new RangeError(`escrow bench sizes: ${problems.join('; ')}`);
  const rows: EscrowCallsRow[] = [];
  for (const workload of ['busy-key', 'cold-keys', 'over-demand'] as const) {
    for (const consistency of ['eventual', 'escrow'] as const) {
      rows.push(await runCallsWorkload(workload, consistency, sizes.seconds));
    }
  }
  const regions = projectConfig.regions;
  const cutRows: EscrowCutRow[] = [];
  for (const consistency of ['eventual', 'escrow'] as const) {
    cutRows.push(await runCut(consistency, sizes, regions));
  }
  const cutFromS = (sizes.cutRunSeconds - sizes.cutSeconds) / 2;
  return {
    roundTripMs: ROUND_TRIP_MS,
    region: REGION,
    regions,
    rebalanceMs: REBALANCE_MS,
    callsPolicy: {
      capacityTokens: CALLS_POLICY.capacityTokens,
      refillTokensPerSecond: CALLS_POLICY.refillTokens,
    },
    seconds: sizes.seconds,
    rates: {
      busyPerSecond: BUSY_RATE,
      coldPerSecond: BUSY_RATE,
      overDemandPerSecond: BUSY_RATE,
      overDemandCostTokens: OVER_DEMAND_COST,
    },
    rows,
    cut: {
      policy: {
        capacityTokens: CUT_POLICY.capacityTokens,
        refillTokensPerSecond: CUT_POLICY.refillTokens,
      },
      seconds: sizes.cutRunSeconds,
      cutFromS,
      cutToS: cutFromS + sizes.cutSeconds,
      replicationMs: REPLICATION_MS,
      demandPerSecond: Object.fromEntries(
        regions.map((r) => [r, r === REGION ? CUT_DEMAND_EAST : CUT_DEMAND_OTHERS]),
      ),
      rows: cutRows,
    },
  };
}

/** The part's section of the report: both tables and how they were measured. */
export function renderEscrow(r: EscrowBenchResult, heading = '## Escrow beside eventual'): string {
  const c = r.cut;
  const demand = Object.entries(c.demandPerSecond)
    .map(([region, rate]) => `${region} ${rate}`)
    .join(', ');
  const lines = [
    heading,
    '',
    `The real \`Limiter\` on virtual time over in-memory tables whose every call takes one ${r.roundTripMs} ms round trip; escrow's background read and rebalance at most every ${r.rebalanceMs} ms per bucket (the default).`,
    '',
    `### Store calls and latency (one container in ${r.region})`,
    '',
    `One policy of ${r.callsPolicy.capacityTokens} tokens and ${r.callsPolicy.refillTokensPerSecond} a second, \`eventual\` with its defaults (takes and leases) against \`escrow\` (a third of the rights per region), ${r.seconds} virtual seconds per row: busy-key = one key at ${r.rates.busyPerSecond} req/s (under the region's share of the refill), cold-keys = a new key on every request at ${r.rates.coldPerSecond} req/s, over-demand = one key at ${r.rates.overDemandPerSecond} req/s of ${r.rates.overDemandCostTokens} tokens each (above the whole refill; a request of the other workloads costs 1 token). One request at a time; calls per admitted count every call, background ones included; calls per refused count the calls started while a refused request was decided (a background read it set off included).`,
    '',
    '| workload | consistency | requests | admitted | store calls / admitted | reads / admitted | writes / admitted | wait p50 (ms) | wait p99 (ms) | refused | store calls / refused |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of r.rows) {
    const perRefused = row.refused === 0 ? '—' : row.storeCallsPerRefused.toFixed(3);
    lines.push(
      `| ${row.workload} | ${row.consistency} | ${row.requests} | ${row.admitted} | ${row.storeCallsPerAdmitted.toFixed(3)} | ${row.readsPerAdmitted.toFixed(3)} | ${row.writesPerAdmitted.toFixed(3)} | ${row.waitP50Ms.toFixed(0)} | ${row.waitP99Ms.toFixed(0)} | ${row.refused} | ${perRefused} |`,
    );
  }
  lines.push(
    '',
    `### A cut (${r.regions.length} regions)`,
    '',
    `One shared bucket of ${c.policy.capacityTokens} tokens and ${c.policy.refillTokensPerSecond} a second, demand per region (req/s) ${demand}, ${c.seconds} virtual seconds; one container and one replica per region, replicating every ${c.replicationMs} ms (newest version wins), ${r.region} cut off from the others from ${c.cutFromS} s to ${c.cutToS} s. Ideal = what one exact bucket admits on the same arrivals; worst-window excess = max over windows W of (admitted in W − (C + R·|W|)), at least 0.`,
    '',
    '| consistency | requests | admitted | ideal | admitted / ideal | worst-window excess (tokens) |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const row of c.rows) {
    lines.push(
      `| ${row.consistency} | ${row.requests} | ${row.admitted} | ${row.ideal} | ${row.admittedPercentOfIdeal.toFixed(1)} % | ${row.worstWindowExcessTokens.toFixed(1)} |`,
    );
  }
  return lines.join('\n');
}
