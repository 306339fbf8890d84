/**
 * The network model in the local runtime (`npm start -- --realistic`).
 *
 * Why: on one machine every store call is a loopback hop, so the limiter's
 * behaviour at real distances (a São Paulo edge ~118 ms from its replica)
 * never shows. With the model on, every emulated edge region talks to its
 * replica (the product's rule, `replicaFor`) through a delaying proxy that
 * draws each call's round trip from sim/network/model.ts
 * (`storeRoundTrip(edge, replica)`: network plus DynamoDB's service time),
 * and replication between the replicas takes the configured lag plus each
 * link's one-way network delay (half its median round trip).
 *
 * The regional API and the reconciler of a replica region talk to their own
 * replica directly: they run beside it.
 */

import { resolveConfig } from '../functions/config/resolve';
import type { LimiterConfig } from '../functions/config/schema';
import {
  type LinkModel,
  linkBetween,
  REGIONAL_EDGE_CACHE_REGIONS,
  storeRoundTrip,
} from '../sim/network/model';
import { deriveSeed, mulberry32 } from '../sim/prng';
import type { LagSpec } from './emulator';
import { LatencyProxy } from './latency-proxy';

/** How one emulated edge region reaches the store. */
export interface EdgeRoute {
  readonly edgeRegion: string;
  /** The replica its bucket store talks to. */
  readonly replica: string;
  /** The strong (MRSC) table's replica, when a policy needs it. */
  readonly strongReplica?: string;
  /** The modelled store call to {@link EdgeRoute.replica}. */
  readonly link: LinkModel;
  /** Replica region → the endpoint this edge's bundle uses (its delaying proxies). */
  readonly endpoints: Readonly<Record<string, string>>;
  /** The proxy in front of {@link EdgeRoute.replica}. */
  readonly proxy: LatencyProxy;
  /** Every proxy of this edge (the strong replica's, when separate). */
  readonly proxies: readonly LatencyProxy[];
}

/**
 * The edge regions a realistic run serves besides the replica regions'
 * own: the ones asked for, or every regional edge cache region; replica
 * regions are left out (their edges run anyway), order kept.
 */
export function edgeOnlyRegions(
  replicaRegions: readonly string[],
  requested: readonly string[] | undefined,
): string[] {
  return (requested ?? REGIONAL_EDGE_CACHE_REGIONS).filter((r) => !replicaRegions.includes(r));
}

/** The one-way network delay between two regions: half the median round trip (ms). */
export function oneWayMs(from: string, to: string): number {
  return linkBetween(from, to).medianMs / 2;
}

/** Replication lag of each link: `baseMs` plus the link's one-way network delay. */
export function modelledLag(baseMs: number): LagSpec {
  return (from, to) => baseMs + oneWayMs(from, to);
}

/** The largest one-way delay between any two of `regions` (ms; 0 for one region). */
export function worstOneWayMs(regions: readonly string[]): number {
  let worst = 0;
  for (const a of regions)
    for (const b of regions) if (a !== b) worst = Math.max(worst, oneWayMs(a, b));
  return worst;
}

/** What {@link startEdgeRoutes} needs. */
export interface EdgeRoutesOptions {
  readonly config: LimiterConfig;
  /** Every edge region to route, replica regions included. */
  readonly edgeRegions: readonly string[];
  /** Replica region → the emulator's endpoint. */
  readonly storeEndpoints: Readonly<Record<string, string>>;
  /** Per edge region (same order): the ports of its proxies (0: free ports). */
  readonly ports: readonly { readonly proxy: number; readonly strongProxy: number }[];
  /** Seed of the delays; each (edge, replica) draws from its own stream. */
  readonly seed: number;
  /** Called to stop what was started if a later step fails. */
  readonly onStarted: (proxy: LatencyProxy) => void;
}

/**
 * Starts the delaying proxies of every edge region and returns the routes:
 * the endpoint map its edge bundle is built with (every replica it uses
 * behind a proxy, the others direct).
 */
export async function startEdgeRoutes(options: EdgeRoutesOptions): Promise<EdgeRoute[]> {
  const resolved = resolveConfig(options.config);
  const routes: EdgeRoute[] = [];
  for (const [i, edgeRegion] of options.edgeRegions.entries()) {
    const ports = options.ports[i] ?? { proxy: 0, strongProxy: 0 };
    const replica = resolved.replicaFor(edgeRegion);
    const strong = resolved.usesStrong ? resolved.strongReplicaFor(edgeRegion) : undefined;
    const targets = [replica, ...(strong === undefined || strong === replica ? [] : [strong])];
    const endpoints: Record<string, string> = { ...options.storeEndpoints };
    const proxies: LatencyProxy[] = [];
    for (const [j, target] of targets.entries()) {
      const upstream = options.storeEndpoints[target];
      if (upstream === undefined) continue;
      const proxy = await LatencyProxy.start({
        upstream,
        link: storeRoundTrip(edgeRegion, target),
        random: mulberry32(deriveSeed(options.seed, `store ${edgeRegion}->${target}`)),
        port: j === 0 ? ports.proxy : ports.strongProxy,
        role: `store proxy ${edgeRegion}->${target}`,
      });
      options.onStarted(proxy);
      proxies.push(proxy);
      endpoints[target] = proxy.url;
    }
    const proxy = proxies[0];
    if (proxy === undefined) {
      throw new RangeError(`edge ${edgeRegion}: its replica ${replica} is not an emulated region`);
    }
    routes.push({
      edgeRegion,
      replica,
      ...(strong === undefined ? {} : { strongReplica: strong }),
      link: proxy.link,
      endpoints,
      proxy,
      proxies,
    });
  }
  return routes;
}
