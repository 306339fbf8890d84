/**
 * Lambda@Edge **viewer-request** entry point (bundled by
 * scripts/build-functions.ts as `index.handler`).
 *
 * Why it looks like this: Lambda@Edge has no environment variables, so the
 * edge's part of the config is compiled into the bundle
 * (`__LIMITER_EDGE_CONFIG__`, read by {@link bundledEdgeConfig}: only what the
 * edge reads, functions/config/edge-config.ts says why); the only thing the
 * container learns at run time is
 * `AWS_REGION` (set by Lambda at the edge too), from which it picks the
 * nearest table replica (the resolved config's rule). Everything expensive
 * (config validation and defaults, rule compilation, the DynamoDB transport
 * with its keep-alive sockets, the limiter and its caches, the metrics sink that
 * aggregates the container's metrics between flushes) is built once per
 * container, on the first invocation, by {@link composeEdgeContainer} (the
 * edge's composition root), and reused. The decision itself is viewer-request.ts.
 *
 * Local runs and tests only: a bundle built with the define
 * `__LIMITER_STORE_ENDPOINTS__` (a JSON object from replica region to an
 * endpoint URL, e.g. `{"eu-west-1":"http://127.0.0.1:8011"}`) talks to those
 * endpoints with static dummy credentials instead of DynamoDB; see
 * build-defines.ts. Deployed bundles are built without it, and then no code
 * path can reach anything but the regional DynamoDB endpoint.
 */
import type { CloudFrontRequestEvent, CloudFrontRequestResult } from 'aws-lambda';
import { type ResolvedEdgeConfig, resolveEdgeConfig } from '../config/resolve';
import { Limiter } from '../limiter/limiter';
import { OverrideCache } from '../limiter/overrides';
import { timeWithClock } from '../limiter/timers';
import { bundledEdgeConfig } from '../shared/bundled-config';
import { EmfLimiterMetrics, type EmfLimiterMetricsOptions } from '../shared/metrics';
import { httpTransport } from '../store/http-transport';
import { overrideTableFor } from '../store/override-table';
import { bucketStoresFor, type StoreAccess } from '../store/stores';
import { LOCAL_STORE_CREDENTIALS, type StoreEndpoints } from './build-defines';
import { compileRules } from './rule-match';
import { createViewerRequestHandler, type ViewerRequestHandler } from './viewer-request';

declare const __LIMITER_STORE_ENDPOINTS__: StoreEndpoints | undefined;

/** One container's wiring for one region. */
export interface EdgeContainer {
  readonly replicaRegion: string;
  /** One invocation: the decision, then the metrics flush when one is due. */
  readonly handle: ViewerRequestHandler;
  readonly limiter: Limiter;
  readonly metrics: EmfLimiterMetrics;
  /** The run-time overrides this container applies (docs/design.md, Overrides). */
  readonly overrides: OverrideCache;
  /**
   * Opens the connections to the replica ahead of the first decision (two
   * reads of no bucket), then reads the overrides over one of them; later
   * calls reuse them. Never rejects.
   */
  readonly warm: () => Promise<void>;
}

/** What {@link composeEdgeContainer} builds a container from. */
export interface EdgeContainerOptions {
  readonly config: ResolvedEdgeConfig;
  /** Where the container runs (`AWS_REGION`); it picks the replica. */
  readonly awsRegion: string | undefined;
  /** How the replicas are reached. @default the regional DynamoDB endpoints */
  readonly access?: StoreAccess;
  /** Milliseconds since the epoch, for the limiter and the metrics. @default real time */
  readonly clock?: () => number;
  /** Options of the metrics sink (its clock is {@link EdgeContainerOptions.clock}). */
  readonly metrics?: Omit<EmfLimiterMetricsOptions, 'clock'>;
}

const containers = new Map<string, EdgeContainer>();

function storeEndpoints(): StoreEndpoints | undefined {
  return typeof __LIMITER_STORE_ENDPOINTS__ === 'undefined'
    ? undefined
    : __LIMITER_STORE_ENDPOINTS__;
}

/**
 * The edge's composition root: everything one container needs. The deployed
 * handler builds one per container from the bundled config; the cost
 * benchmark builds them with a virtual clock to measure what they write.
 */
export function composeEdgeContainer(options: EdgeContainerOptions): EdgeContainer {
  const { config, clock } = options;
  // The light transport: no SDK in the edge bundle (http-transport.ts says why).
  const stores = bucketStoresFor(config, options.awsRegion, httpTransport, options.access ?? {});
  const metrics = new EmfLimiterMetrics({
    ...options.metrics,
    ...(clock === undefined ? {} : { clock }),
  });
  // Overrides come from the same replica, on the same transport, read in the background.
  const table = overrideTableFor(config, options.awsRegion, httpTransport, options.access ?? {});
  const overrides = new OverrideCache({
    config,
    read: (signal) => table.read({ abortSignal: signal }),
    ...(clock === undefined ? {} : { time: timeWithClock(clock) }),
  });
  const limiter = new Limiter({
    config,
    overrides,
    // The slot written is the replica's: a slot is only ever written through one replica.
    region: stores.replica,
    store: stores.store,
    ...(stores.strongStore === undefined ? {} : { strongStore: stores.strongStore }),
    ...(clock === undefined ? {} : { clock }),
    metrics,
  });
  const decide = createViewerRequestHandler({
    rules: compileRules(config.config),
    limiter,
    maxKeyLength: config.runtime.maxKeyLength,
    ...(clock === undefined ? {} : { clock }),
  });
  return {
    replicaRegion: stores.replica,
    handle: async (event) => {
      try {
        await overrides.ready();
        return await decide(event);
      } finally {
        // Lambda freezes the container when the handler returns: no timer can
        // flush, so the invocation does, once per interval.
        metrics.flushIfDue();
      }
    },
    limiter,
    metrics,
    overrides,
    // Then the overrides' first read, on a connection the warm-up opened.
    warm: () => (stores.store.warm?.() ?? Promise.resolve()).then(() => overrides.ready()),
  };
}

/** This process's container for `awsRegion`, built on first use from the bundled config. */
function containerFor(awsRegion: string | undefined): EdgeContainer {
  const cacheKey = awsRegion ?? '';
  const cached = containers.get(cacheKey);
  if (cached !== undefined) return cached;
  const endpoints = storeEndpoints();
  const container = composeEdgeContainer({
    config: resolveEdgeConfig(bundledEdgeConfig()),
    awsRegion,
    ...(endpoints === undefined
      ? {}
      : {
          access: { endpointOf: (r) => endpoints[r], credentials: LOCAL_STORE_CREDENTIALS },
        }),
  });
  containers.set(cacheKey, container);
  return container;
}

/**
 * The viewer-request handler of a container running in `awsRegion`. The
 * deployed entry point is {@link handler}; the local runtime calls this to
 * emulate several regions with one loaded bundle.
 */
export function handlerForRegion(awsRegion: string | undefined): ViewerRequestHandler {
  return (event) => containerFor(awsRegion).handle(event);
}

/** The replica a container in `awsRegion` talks to (logs, the local runtime's status). */
export function replicaRegionFor(awsRegion: string | undefined): string {
  return containerFor(awsRegion).replicaRegion;
}

/**
 * In Lambda, the module is loaded in the init phase: the container is built
 * then, and its connections to the replica (TCP and TLS, two round trips,
 * three with the read that opens them) start opening. A container Lambda
 * initialises ahead of any request (it may, for on-demand functions) has
 * them ready for its first viewer; otherwise the first request's calls open
 * their own, as without it (docs/edge-latency.md). Elsewhere (tests, the
 * local runtime) nothing happens at load. A container that cannot be built
 * here is built, and fails, on the first request as before.
 */
export function warmAtInit(env: NodeJS.ProcessEnv): Promise<void> | undefined {
  if (env.AWS_LAMBDA_FUNCTION_NAME === undefined) return undefined;
  try {
    return containerFor(env.AWS_REGION).warm();
  } catch {
    return undefined;
  }
}

warmAtInit(process.env);

/** Lambda@Edge viewer-request handler. */
export async function handler(event: CloudFrontRequestEvent): Promise<CloudFrontRequestResult> {
  return handlerForRegion(process.env.AWS_REGION)(event);
}
