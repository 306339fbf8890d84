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
}

/** Every port the runtime binds. */
export interface PortPlan {
  readonly admin: number;
  /** The built-in echo origin (unused with `--origin`). */
  readonly origin: number;
  /** Per region, in config order. */
  readonly regions: readonly RegionPorts[];
}

/** Ports of region `i` are `base + 10·(i+1) + {0: edge, 1: API, 2: DynamoDB}`. */
export const PORTS_PER_REGION = 10;

/**
 * The deterministic port plan for `regionCount` regions from `basePort`
 * (0: every port 0, i.e. free ports).
 *
 * @throws RangeError when the highest port would exceed 65535.
 */
export function planPorts(basePort: number, regionCount: number): PortPlan {
  if (basePort === 0) {
    return {
      admin: 0,
      origin: 0,
      regions: Array.from({ length: regionCount }, () => ({ edge: 0, api: 0, store: 0 })),
    };
  }
  const highest = basePort + PORTS_PER_REGION * regionCount + 2;
  if (highest > 65_535) {
    throw new RangeError(
      `--port ${basePort} leaves no room for ${regionCount} regions (needs up to ${highest})`,
    );
  }
  return {
    admin: basePort,
    origin: basePort + 1,
    regions: Array.from({ length: regionCount }, (_, i) => {
      const first = basePort + PORTS_PER_REGION * (i + 1);
      return { edge: first, api: first + 1, store: first + 2 };
    }),
  };
}
