/**
 * Port plan of the local runtime. Ports derive from one base so that URLs are
 * stable across runs (bookmarks, curl history, a second terminal's scripts)
 * and a whole second instance fits beside the first with another base. Base 0
 * asks the OS for free ports everywhere (tests, benchmarks).
 */

/** Ports of one emulated region. */
export interface RegionPorts {
  /** The CloudFront-like edge endpoint. */
  readonly edge: number;
  /** The regional API (Lambda function URL). */
  readonly api: number;
  /** The region's DynamoDB endpoint (the replicating proxy). */
  readonly store: number;
  /** With the network model: the delaying proxy from this region's edge to its replica. */
  readonly proxy: number;
  /** With the network model: the same to its strong (MRSC) replica. */
  readonly strongProxy: number;
}

/** Ports of an edge region that holds no replica (network model only). */
export interface EdgeOnlyPorts {
  readonly edge: number;
  readonly proxy: number;
  readonly strongProxy: number;
}

/** Every port the runtime binds. */
export interface PortPlan {
  readonly admin: number;
  /** The built-in echo origin (unused with `--origin`). */
  readonly origin: number;
  /** Per region, in config order. */
  readonly regions: readonly RegionPorts[];
  /** Per edge region without a replica, after the regions, in the order given. */
  readonly edgeOnly: readonly EdgeOnlyPorts[];
}

/**
 * Ports of block `i` (the regions first, then the edge-only regions) are
 * `base + 10·(i+1) + {0: edge, 1: API, 2: DynamoDB, 3: store proxy, 4: strong store proxy}`.
 */
export const PORTS_PER_REGION = 10;

/**
 * The deterministic port plan for `regionCount` regions and `edgeOnlyCount`
 * edge regions without a replica, from `basePort` (0: every port 0, i.e.
 * free ports).
 *
 * @throws RangeError when the highest port would exceed 65535.
 */
export function planPorts(basePort: number, regionCount: number, edgeOnlyCount = 0): PortPlan {
  if (basePort === 0) {
    return {
      admin: 0,
      origin: 0,
      regions: Array.from({ length: regionCount }, () => ({
        edge: 0,
        api: 0,
        store: 0,
        proxy: 0,
        strongProxy: 0,
      })),
      edgeOnly: Array.from({ length: edgeOnlyCount }, () => ({
        edge: 0,
        proxy: 0,
        strongProxy: 0,
      })),
    };
  }
  const blocks = regionCount + edgeOnlyCount;
  const highest = basePort + PORTS_PER_REGION * blocks + 4;
  if (highest > 65_535) {
    throw new RangeError(
      `--port ${basePort} leaves no room for ${blocks} regions (needs up to ${highest})`,
    );
  }
  const first = (block: number) => basePort + PORTS_PER_REGION * (block + 1);
  return {
    admin: basePort,
    origin: basePort + 1,
    regions: Array.from({ length: regionCount }, (_, i) => ({
      edge: first(i),
      api: first(i) + 1,
      store: first(i) + 2,
      proxy: first(i) + 3,
      strongProxy: first(i) + 4,
    })),
    edgeOnly: Array.from({ length: edgeOnlyCount }, (_, j) => ({
      edge: first(regionCount + j),
      proxy: first(regionCount + j) + 3,
      strongProxy: first(regionCount + j) + 4,
    })),
  };
}
