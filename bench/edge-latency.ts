/**
 * The bench's per-region table (issue-level target: what a viewer gets at
 * real distances): the edge simulator (`npm run simulate -- --edge`, see
 * docs/edge-latency.md) on the shipped config. Virtual time, so it is the
 * one part of the bench whose figures do not depend on the machine.
 */

import type { LimiterConfig } from '../functions/config/schema';
import { formatEdgeTable } from '../sim/cli';
import { type EdgeRow, type EdgeWorkload, runEdge } from '../sim/edge/run';

/** How much the edge part simulates. */
export interface EdgeLatencySizes {
  /** Virtual seconds measured per workload. */
  readonly durationS: number;
  /** Workloads (all when absent). */
  readonly workloads?: readonly EdgeWorkload[];
  /** Edge regions (every regional edge cache region when absent). */
  readonly edgeRegions?: readonly string[];
}

/** What the edge part measured. */
export interface EdgeLatencyResult {
  readonly seed: number;
  readonly durationS: number;
  readonly rows: readonly EdgeRow[];
}

/** Runs the edge simulator on `config` (seed 1). */
export async function measureEdgeLatency(
  sizes: EdgeLatencySizes,
  config: LimiterConfig,
  edgeRegions: readonly string[],
): Promise<EdgeLatencyResult> {
  const seed = 1;
  const rows = await runEdge({
    config,
    edgeRegions: sizes.edgeRegions ?? edgeRegions,
    ...(sizes.workloads === undefined ? {} : { workloads: sizes.workloads }),
    seed,
    durationS: sizes.durationS,
  });
  return { seed, durationS: sizes.durationS, rows };
}

/** The report's section. */
export function renderEdgeLatency(
  r: EdgeLatencyResult,
  heading = '## 8. The edge at real distances (simulator)',
): string {
  return [
    heading,
    '',
    `The edge simulator (\`npm run simulate -- --edge\`, docs/edge-latency.md) on the shipped config: the real limiter in each Lambda container, in virtual time, at the network model's distances to its replica; seed ${r.seed}, ${r.durationS} virtual s per workload after a warm-up. p50/p99: time a viewer waited for the limiter, CPU at 128 MB included; store wait: admitted requests that waited for a store round trip; over / bound: worst-window over-admission and the documented bound (tokens).`,
    '',
    formatEdgeTable(r.rows),
  ].join('\n');
}
