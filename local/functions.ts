/**
 * Loading the project's functions for one emulated region.
 *
 * The edge and API handlers run from the *same bundles that deploy*
 * (scripts/build-functions.ts), loaded with `require()`; nothing is imported
 * from their TypeScript sources. One process emulates several regions, so
 * each region gets its own module instance of each bundle (its own caches,
 * clients and counters, as separate Lambda containers would have): the module
 * is evicted from the require cache after each load.
 *
 * The reconciler runs its injectable core (`reconcile`) with clients of the
 * emulated replicas, a metric publisher that keeps the last data points
 * instead of calling CloudWatch, and its findings in the status item.
 */

import { createRequire } from 'node:module';
import type { MetricDatum } from '@aws-sdk/client-cloudwatch';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LimiterConfig } from '../functions/config/schema';
import { ORIGIN_HEADERS } from '../functions/edge/responses';
import {
  type ReconcilerLogger,
  type ReconcilerOptions,
  reconcile,
} from '../functions/reconciler/reconcile';
import { DynamoDbStore } from '../functions/store/dynamodb-store';
import type { BucketStore } from '../functions/store/types';
import { type BuiltFunction, buildFunction, FUNCTIONS, hasEntry } from '../scripts/build-functions';
import type { ApiHandler } from './api-server';
import type { EdgeFunctions, EdgeOutcome } from './edge-server';
import { localClient } from './emulator';
import type { EdgeCounters } from './status';

const require = createRequire(import.meta.url);

/** One region's reconciler, as the runtime's timer drives it. */
export interface Reconciler {
  /** One run; resolves when its status item is written (or failed to be). */
  run(): Promise<void>;
  /** The data points of the last run, as they would have been published. */
  lastMetricData(): readonly MetricDatum[];
  /** Stops a run in progress as soon as possible. */
  abort(): void;
}

/** Everything of one region the runtime serves. */
export interface LoadedRegion {
  readonly edge: EdgeFunctions;
  readonly api: ApiHandler;
  readonly reconciler: Reconciler;
  /** Updates counters from what the edge did (e.g. fallbacks the handler marked). */
  readonly observe?: (outcome: EdgeOutcome, counters: EdgeCounters) => void;
}

/** What {@link loadRegionFunctions} needs. */
export interface LoadRegionOptions {
  readonly config: LimiterConfig;
  readonly region: string;
  /** Region → DynamoDB endpoint of the emulated replica. */
  readonly storeEndpoints: Readonly<Record<string, string>>;
  readonly log: (line: string) => void;
  /** Reconciler tuning (local runs wait less for heartbeats). */
  readonly reconcilerOptions?: ReconcilerOptions;
}

/** A bundle could not be loaded, or does not export its handler. */
export class BundleLoadError extends Error {
  override readonly name = 'BundleLoadError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Builds (or reuses, bundles are content-addressed) and loads the edge and
 * API bundles for `region`, and prepares its reconciler.
 */
export async function loadRegionFunctions(options: LoadRegionOptions): Promise<LoadedRegion> {
  const { config } = options;
  const edgeBundle = await buildFunction({ name: 'edge', config, sourcemap: false });
  const edgeModule = loadFresh(edgeBundle);
  const viewerRequest = exportOf<EdgeFunctions['viewerRequest']>(edgeModule, edgeBundle);
  let viewerResponse: EdgeFunctions['viewerResponse'];
  if (hasEntry('edge-response')) {
    const responseBundle = await buildFunction({ name: 'edge-response', config });
    viewerResponse = exportOf<NonNullable<EdgeFunctions['viewerResponse']>>(
      loadFresh(responseBundle),
      responseBundle,
    );
  }
  const apiBundle = await buildFunction({ name: 'api', config });
  const api = exportOf<ApiHandler>(loadFresh(apiBundle), apiBundle);
  return {
    edge: {
      viewerRequest,
      ...(viewerResponse === undefined ? {} : { viewerResponse }),
    },
    api,
    reconciler: localReconciler(options),
    observe: countFallbacks,
  };
}

/**
 * Counts the decisions a failure mode took, from what the edge handler
 * returned: a forwarded request marked `x-ratelimit-fallback` (open, local)
 * or a generated 503 (closed: the only 503 the edge generates).
 */
export function countFallbacks(outcome: EdgeOutcome, counters: EdgeCounters): void {
  if (
    outcome.kind === 'forwarded' &&
    outcome.request.headers[ORIGIN_HEADERS.fallback] !== undefined
  ) {
    counters.fallbacks++;
  } else if (outcome.kind === 'generated' && outcome.status === 503) {
    counters.fallbacks++;
  }
}

/** The reconciler of one region on the emulated replicas. */
export function localReconciler(options: LoadRegionOptions): Reconciler {
  const { config, region, storeEndpoints } = options;
  const clients = new Map<string, DynamoDBClient>();
  const stores = new Map<string, BucketStore>();
  const clientOf = (r: string): DynamoDBClient => {
    let client = clients.get(r);
    if (client === undefined) {
      const endpoint = storeEndpoints[r];
      if (endpoint === undefined) throw new RangeError(`no emulated endpoint for region "${r}"`);
      client = localClient(endpoint, r);
      clients.set(r, client);
    }
    return client;
  };
  const storeOf = (r: string): BucketStore => {
    let store = stores.get(r);
    if (store === undefined) {
      store = new DynamoDbStore({ client: clientOf(r), tableName: config.tableName });
      stores.set(r, store);
    }
    return store;
  };
  let lastData: readonly MetricDatum[] = [];
  let aborted = false;
  const logger: ReconcilerLogger = {
    info: () => undefined,
    warn: () => undefined,
    error: (message, attributes) =>
      options.log(`reconciler ${region}: ${message} ${JSON.stringify(attributes)}`),
  };
  return {
    async run() {
      if (aborted) return;
      const result = await reconcile({
        region,
        config,
        dynamoDb: clientOf,
        bucketStore: storeOf,
        metrics: {
          publish: async (data) => {
            lastData = data;
          },
        },
        logger,
        ...(options.reconcilerOptions === undefined ? {} : { options: options.reconcilerOptions }),
      });
      if (result.statusError !== undefined) {
        throw new Error(`status write failed: ${String(result.statusError)}`, {
          cause: result.statusError,
        });
      }
    },
    lastMetricData: () => lastData,
    abort() {
      aborted = true;
      for (const client of clients.values()) client.destroy();
    },
  };
}

/** A fresh module instance of a bundle (evicted from the cache so the next load is fresh too). */
function loadFresh(bundle: BuiltFunction): Record<string, unknown> {
  const resolved = require.resolve(bundle.file);
  delete require.cache[resolved];
  try {
    return require(resolved) as Record<string, unknown>;
  } catch (error) {
    throw new BundleLoadError(`loading the ${bundle.name} bundle failed: ${String(error)}`, {
      cause: error,
    });
  } finally {
    delete require.cache[resolved];
  }
}

function exportOf<T>(mod: Record<string, unknown>, bundle: BuiltFunction): T {
  const fn = mod[bundle.exportName];
  if (typeof fn !== 'function') {
    throw new BundleLoadError(
      `the ${bundle.name} bundle (${FUNCTIONS[bundle.name].entry}) does not export "${bundle.exportName}"`,
    );
  }
  return fn as T;
}
