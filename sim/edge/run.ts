/**
 * `npm run simulate -- --edge`: what a viewer gets from the limiter in each
 * edge region, for standard workloads on a config (docs/edge-latency.md).
 * It drives the real limiter (caches, leases, takes, store guard) in an
 * {@link EdgeWorld}: virtual time, the network model, frozen containers.
 *
 * Workloads (each on the config's own policies; {@link workloadPolicies}):
 * - `busy-key`: in each edge region, one key of its own at 10 requests/s;
 * - `cold-keys`: in each edge region, 20 requests/s spread over 10,000 keys
 *   (each seen every few minutes: never in a container's fresh view);
 * - `global-cap`: one shared bucket at 80 % of its refill rate, spread over
 *   every edge region;
 * - `overload`: one key shared by every edge region at 3 × its refill rate;
 * - `hot-bucket`: one global bucket admitting 20,000 requests/s (a policy of
 *   its own: 40,000 tokens, 25,000/s), the per-partition write limit on.
 */

import type { ResolvedConfig, ResolvedPolicy } from '../../functions/config/resolve';
import { resolveConfig } from '../../functions/config/resolve';
import { type LimiterConfig, limitsOf, type PolicyConfig } from '../../functions/config/schema';
import { scale, scaledCapacity } from '../../functions/core';
import { storeRoundTrip } from '../network/model';
import { createRng } from '../prng';
import { type CpuModel, type EdgeOutcome, EdgeWorld } from './world';

/** The standard workloads, in report order. */
export const EDGE_WORKLOADS = [
  'busy-key',
  'cold-keys',
  'global-cap',
  'overload',
  'hot-bucket',
] as const;
export type EdgeWorkload = (typeof EDGE_WORKLOADS)[number];

/** One row: one workload in one edge region. */
export interface EdgeRow {
  readonly workload: EdgeWorkload;
  readonly policy: string;
  readonly edgeRegion: string;
  readonly replicaRegion: string;
  /** Median round trip edge → replica, DynamoDB's service time included (ms). */
  readonly rttMs: number;
  readonly requests: number;
  readonly admitted: number;
  readonly addedLatencyP50Ms: number;
  readonly addedLatencyP99Ms: number;
  /** Decisions a failure mode took, over all decisions. */
  readonly fallbackRate: number;
  /** Admitted requests that waited for a store round trip, over admitted requests. */
  readonly storeWaitShare: number;
  /** Worst window over-admission of the row's bucket(s), in tokens (per key, the worst key). */
  readonly overAdmissionTokens: number;
  /** The documented bound for it: unseen tokens of other replicas plus tokens held in leases. */
  readonly boundTokens: number;
  /** Store writes of the row's bucket(s) per admitted request. */
  readonly writesPerAdmitted: number;
  /** Store read calls of the row's bucket(s) per admitted request. */
  readonly readsPerAdmitted: number;
  /**
   * Store writes of every bucket the workload's requests charged (each
   * request's other limits included) over all its admitted requests: the same
   * in every row of a workload.
   */
  readonly requestWritesPerAdmitted: number;
  /** Store read calls of every bucket the workload's requests charged, likewise. */
  readonly requestReadsPerAdmitted: number;
  /** Mean time a request waited for the limiter, rounded up to Lambda's 1 ms billing step (ms). */
  readonly billedMsMean: number;
  readonly coldStarts: number;
  /** Most writes one partition took in one second on one replica, over the workload. */
  readonly maxPartitionWritesPerSecond: number;
  /** Writes the per-partition limit refused, over the workload. */
  readonly throttledWrites: number;
}

/** How a run is set up. */
export interface EdgeRunOptions {
  readonly config: LimiterConfig;
  readonly edgeRegions: readonly string[];
  readonly workloads?: readonly EdgeWorkload[];
  readonly seed?: number;
  /** Virtual seconds measured per workload (`hot-bucket` runs a fifth of it). @default 60 */
  readonly durationS?: number;
  /**
   * Virtual seconds of the same traffic before the measured part: containers
   * start, connect and learn their demand, as they have long done for a key
   * that is busy in production. Requests then are not counted. @default 10
   */
  readonly warmupS?: number;
  readonly cpu?: CpuModel;
  readonly replicationMs?: number;
  /** Per-client policy for busy-key, cold-keys and overload (default: see {@link workloadPolicies}). */
  readonly policy?: string;
}

/** The policy of the `hot-bucket` workload: it must admit 20,000 requests/s. */
export const HOT_BUCKET_POLICY: PolicyConfig = {
  id: 'hot-bucket',
  capacityTokens: 40_000,
  refillTokens: 25_000,
  refillIntervalMs: 1000,
  onStoreError: 'open',
};

/**
 * Which of the config's policies the workloads use: a per-client one (the
 * first, in config order, refilling at least 10 tokens/s, whose rules key by
 * something else than a constant) and a shared one (a policy a rule keys by
 * a constant, else the fastest refilling).
 */
export function workloadPolicies(
  config: ResolvedConfig,
  perClient?: string,
): { perClient: ResolvedPolicy; shared: ResolvedPolicy } {
  const policies = [...config.policies.values()];
  if (policies.length === 0) throw new Error('the config has no policy');
  const rate = (p: ResolvedPolicy) => (p.bucket.refillTokens * 1000) / p.bucket.refillIntervalMs;
  const fastest = policies.reduce((a, b) => (rate(b) > rate(a) ? b : a));
  const constantKeyed = new Set(
    config.config.rules
      .flatMap((r) => limitsOf(r))
      .filter((l) => l.key.length > 0 && l.key.every((part) => 'constant' in part))
      .map((l) => l.policy),
  );
  const shared = policies.find((p) => constantKeyed.has(p.id)) ?? fastest;
  let client: ResolvedPolicy | undefined;
  if (perClient !== undefined) {
    client = config.policies.get(perClient);
    if (client === undefined) {
      throw new Error(
        `unknown policy "${perClient}" (the config has ${policies.map((p) => p.id).join(', ')})`,
      );
    }
  } else {
    client = policies.find((p) => !constantKeyed.has(p.id) && rate(p) >= 10) ?? fastest;
  }
  return { perClient: client, shared };
}

interface Arrival {
  readonly atMs: number;
  readonly edgeRegion: string;
  readonly key: string;
}

/** Another limit a request of the measured policy is charged to, and how its key is made. */
interface CompanionLimit {
  readonly policyId: string;
  readonly keyOf: (arrival: Arrival, viewer: string) => string;
}

/**
 * The other limits of the first rule that charges `policy` (the shipped
 * `/api/**` rule charges the key's bucket, the client IP's and the global
 * cap): a request of the per-client workloads is decided with all of them,
 * as the edge decides it. A limit keyed by constants only gets one shared
 * key, one keyed by the client IP the viewer's address, any other the
 * workload's key.
 */
export function companionLimits(config: ResolvedConfig, policy: string): CompanionLimit[] {
  for (const rule of config.config.rules) {
    const limits = limitsOf(rule);
    if (!limits.some((l) => l.policy === policy)) continue;
    return limits
      .filter((l) => l.policy !== policy)
      .map((l) => {
        const constant = l.key.length > 0 && l.key.every((part) => 'constant' in part);
        const byIp = l.key.length > 0 && l.key.every((part) => 'ip' in part);
        return {
          policyId: l.policy,
          keyOf: (a: Arrival, viewer: string) =>
            constant ? `const:${l.policy}` : byIp ? `ip:${viewer}` : a.key,
        };
      });
  }
  return [];
}

/** Poisson arrivals at `perSecond` in one edge region for `durationMs`. */
function arrivals(
  seed: number,
  label: string,
  edgeRegion: string,
  perSecond: number,
  durationMs: number,
  keyOf: (i: number, rng: ReturnType<typeof createRng>) => string,
): Arrival[] {
  const rng = createRng(seed, `${label}:${edgeRegion}`);
  const out: Arrival[] = [];
  let t = 0;
  for (let i = 0; ; i++) {
    t += -Math.log(1 - rng.next()) * (1000 / perSecond);
    if (t >= durationMs) return out;
    out.push({ atMs: Math.floor(t), edgeRegion, key: keyOf(i, rng) });
  }
}

function traceOf(
  workload: EdgeWorkload,
  edges: readonly string[],
  policy: ResolvedPolicy,
  seed: number,
  durationMs: number,
): Arrival[] {
  const rate = (policy.bucket.refillTokens * 1000) / policy.bucket.refillIntervalMs;
  const per = (total: number) => total / edges.length;
  const all: Arrival[] = [];
  for (const edge of edges) {
    switch (workload) {
      case 'busy-key':
        all.push(...arrivals(seed, workload, edge, 10, durationMs, () => `busy:${edge}`));
        break;
      case 'cold-keys':
        all.push(
          ...arrivals(
            seed,
            workload,
            edge,
            20,
            durationMs,
            (_i, rng) => `cold:${edge}:${rng.int(0, 9999)}`,
          ),
        );
        break;
      case 'global-cap':
        all.push(...arrivals(seed, workload, edge, per(0.8 * rate), durationMs, () => 'all'));
        break;
      case 'overload':
        all.push(...arrivals(seed, workload, edge, per(3 * rate), durationMs, () => 'shared'));
        break;
      case 'hot-bucket':
        all.push(...arrivals(seed, workload, edge, per(20_000), durationMs, () => 'all'));
        break;
    }
  }
  return all.sort((a, b) => a.atMs - b.atMs);
}

/** Worst window over-admission of a bucket's admissions (tokens): how far the exact level went below 0. */
export function worstOverAdmission(
  policy: ResolvedPolicy,
  admissions: readonly { readonly atMs: number; readonly tokens: number }[],
): number {
  const s = scale(policy.bucket);
  const capacity = scaledCapacity(policy.bucket);
  let level = capacity;
  let lowest = capacity;
  let lastMs: number | undefined;
  for (const a of [...admissions].sort((x, y) => x.atMs - y.atMs)) {
    if (lastMs !== undefined)
      level = Math.min(capacity, level + policy.bucket.refillTokens * (a.atMs - lastMs));
    lastMs = a.atMs;
    level -= a.tokens * s;
    if (level < lowest) lowest = level;
  }
  return Math.max(0, -lowest) / s;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

const round = (x: number, digits = 2) => Number(x.toFixed(digits));

/** Runs one workload; one row per edge region. */
export async function runEdgeWorkload(
  workload: EdgeWorkload,
  options: EdgeRunOptions,
): Promise<EdgeRow[]> {
  const seed = options.seed ?? 1;
  const baseConfig = options.config;
  const config = resolveConfig(
    workload === 'hot-bucket'
      ? { ...baseConfig, policies: [...baseConfig.policies, HOT_BUCKET_POLICY] }
      : baseConfig,
  );
  const { perClient, shared } = workloadPolicies(config, options.policy);
  const policy =
    workload === 'hot-bucket'
      ? config.policies.get(HOT_BUCKET_POLICY.id)!
      : workload === 'global-cap'
        ? shared
        : perClient;
  const share = workload === 'hot-bucket' ? 0.2 : 1;
  // The hot bucket is one bucket admitting 20,000 requests/s across the replicas' own
  // regions (each writing its own slot), when they are among the edges asked for.
  const replicas = config.config.regions;
  const edges =
    workload === 'hot-bucket' && replicas.every((r) => options.edgeRegions.includes(r))
      ? replicas
      : options.edgeRegions;
  const warmupMs = (options.warmupS ?? 10) * 1000 * share;
  const durationMs = warmupMs + (options.durationS ?? 60) * 1000 * share;
  const world = new EdgeWorld({
    config,
    edgeRegions: edges,
    seed,
    ...(options.cpu === undefined ? {} : { cpu: options.cpu }),
    ...(options.replicationMs === undefined ? {} : { replicationMs: options.replicationMs }),
  });
  // A hot bucket's traffic ramps up over the warm-up (from nothing to full), as a busy
  // service's does: a step from idle to 20,000 requests/s would be a stampede of containers.
  const rampRng = createRng(seed, 'ramp');
  const trace = traceOf(workload, edges, policy, seed, durationMs).filter(
    (a) => workload !== 'hot-bucket' || a.atMs >= warmupMs || rampRng.next() < a.atMs / warmupMs,
  );
  // The per-client workloads decide every limit of the policy's rule; the shared ones one bucket.
  const companions =
    workload === 'busy-key' || workload === 'cold-keys' || workload === 'overload'
      ? companionLimits(config, policy.id)
      : [];
  // The viewer behind a request: one per edge region for a busy or shared key; for cold
  // keys one per key (a key's number, `cold:<edge>:<n>`, picks its address).
  const viewerOf = (a: Arrival) => {
    const n = Number(a.key.split(':').pop());
    const edge = edges.indexOf(a.edgeRegion) + 1;
    return workload === 'cold-keys' && Number.isSafeInteger(n)
      ? `10.${edge}.${Math.floor(n / 250)}.${n % 250}`
      : `198.51.100.${edge}`;
  };
  const outcomes: EdgeOutcome[] = [];
  // The warm-up's admissions still count for over-admission: they consumed the same bucket.
  const warmup: EdgeOutcome[] = [];
  const start = world.time.now();
  let next = 0;
  const schedule = () => {
    const arrival = trace[next];
    if (arrival === undefined) return;
    world.time.setTimer(
      () => {
        // Every arrival due now starts now, in trace order.
        while (next < trace.length && trace[next]!.atMs <= world.time.now() - start) {
          const a = trace[next++]!;
          const others = companions.map((c) => ({
            policyId: c.policyId,
            key: c.keyOf(a, viewerOf(a)),
          }));
          world.request(a.edgeRegion, policy.id, a.key, 1, others).then((o) => {
            if (a.atMs >= warmupMs) outcomes.push(o);
            else warmup.push(o);
          });
        }
        schedule();
      },
      start + arrival.atMs - world.time.now(),
    );
  };
  schedule();
  world.time.setTimer(() => world.resetCounters(), warmupMs);
  await world.time.advance(durationMs + 10_000);
  return rowsOf(workload, policy, world, outcomes, warmup, edges);
}

function rowsOf(
  workload: EdgeWorkload,
  policy: ResolvedPolicy,
  world: EdgeWorld,
  outcomes: readonly EdgeOutcome[],
  warmup: readonly EdgeOutcome[],
  edges: readonly string[],
): EdgeRow[] {
  const byKey = new Map<string, EdgeOutcome[]>();
  for (const o of warmup.concat(outcomes)) {
    const list = byKey.get(o.key) ?? [];
    list.push(o);
    byKey.set(o.key, list);
  }
  const keyFigures = new Map<string, { over: number; bound: number }>();
  for (const [key, list] of byKey) {
    const admitted = list.filter((o) => o.allowed && !o.fallback);
    keyFigures.set(key, {
      over: worstOverAdmission(
        policy,
        admitted.map((o) => ({ atMs: o.atMs, tokens: o.tokens })),
      ),
      bound: admitted.reduce((most, o) => Math.max(most, o.boundTokens), 0),
    });
  }
  const allAdmitted = Math.max(1, outcomes.filter((o) => o.allowed).length);
  const sum = (counts: ReadonlyMap<string, number>) =>
    [...counts.values()].reduce((a, b) => a + b, 0);
  const requestWritesPerAdmitted = round(sum(world.writesByBucket) / allAdmitted, 3);
  const requestReadsPerAdmitted = round(sum(world.readsByBucket) / allAdmitted, 3);
  return edges.map((edge) => {
    const mine = outcomes.filter((o) => o.edgeRegion === edge);
    const admitted = mine.filter((o) => o.allowed);
    const latencies = mine.map((o) => o.addedLatencyMs).sort((a, b) => a - b);
    const keys = new Set(mine.map((o) => o.key));
    let over = 0;
    let bound = 0;
    let writes = 0;
    let reads = 0;
    for (const key of keys) {
      const f = keyFigures.get(key)!;
      if (f.over >= over) {
        over = f.over;
        bound = Math.max(bound, f.bound);
      }
      writes += world.writesByBucket.get(bucketIdOfKey(world, policy, key)) ?? 0;
      reads += world.readsByBucket.get(bucketIdOfKey(world, policy, key)) ?? 0;
    }
    // A shared bucket's writes come from every region: this row's share of them.
    const sharedKey =
      keys.size === 1 && [...byKey.get([...keys][0]!)!].some((o) => o.edgeRegion !== edge);
    const shareHere = sharedKey
      ? admitted.length / Math.max(1, outcomes.filter((o) => o.allowed).length)
      : 1;
    const writesHere = writes * shareHere;
    const readsHere = reads * shareHere;
    const replica = world.replicaOf(edge);
    return {
      workload,
      policy: policy.id,
      edgeRegion: edge,
      replicaRegion: replica,
      rttMs: round(storeRoundTrip(edge, replica).medianMs, 1),
      requests: mine.length,
      admitted: admitted.length,
      addedLatencyP50Ms: round(percentile(latencies, 0.5)),
      addedLatencyP99Ms: round(percentile(latencies, 0.99)),
      fallbackRate: round(mine.filter((o) => o.fallback).length / Math.max(1, mine.length), 4),
      storeWaitShare: round(
        admitted.filter((o) => o.waitedForStore).length / Math.max(1, admitted.length),
        4,
      ),
      overAdmissionTokens: round(over),
      boundTokens: round(bound),
      writesPerAdmitted: round(writesHere / Math.max(1, admitted.length), 3),
      readsPerAdmitted: round(readsHere / Math.max(1, admitted.length), 3),
      requestWritesPerAdmitted,
      requestReadsPerAdmitted,
      billedMsMean: round(
        mine.reduce((sum, o) => sum + Math.max(1, Math.ceil(o.addedLatencyMs)), 0) /
          Math.max(1, mine.length),
      ),
      coldStarts: mine.filter((o) => o.coldStart).length,
      maxPartitionWritesPerSecond: world.maxPartitionWritesPerSecond,
      throttledWrites: world.throttledWrites,
    };
  });
}

function bucketIdOfKey(world: EdgeWorld, policy: ResolvedPolicy, key: string): string {
  return world.bucketIdOf(policy.id, key);
}

/** Every workload asked for, one after the other. */
export async function runEdge(options: EdgeRunOptions): Promise<EdgeRow[]> {
  const rows: EdgeRow[] = [];
  for (const workload of options.workloads ?? EDGE_WORKLOADS) {
    rows.push(...(await runEdgeWorkload(workload, options)));
  }
  return rows;
}
