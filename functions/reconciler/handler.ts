/**
 * The reconciler's Lambda entry point, run every minute by a schedule in
 * each region, and its composition root: {@link reconcilerDependencies}
 * builds the container's stores and publisher once, and every invocation
 * calls {@link reconcile}; everything it measures is in reconcile.ts. The
 * local runtime builds its reconcilers with the same root.
 *
 * Config comes compiled into the bundle (shared/bundled-config.ts), the
 * region from `AWS_REGION`. The global table has the same name in every
 * replica region, so one client per region reaches each replica; local runs
 * pass an endpoint per region instead.
 *
 * The invocation fails (and the function-errors alarm sees it) only when the
 * metrics could not be published: store problems are findings, published as
 * breaches, not failures of the function.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { LimiterConfig } from '../config/schema';
import { bundledConfig } from '../shared/bundled-config';
import type { ReconcilerStatus } from '../shared/replication-status';
import { replicaStores } from '../store/regional-stores';
import type { StoreAccess } from '../store/stores';
import { cloudWatchPublisher, type MetricPublisher } from './metrics';
import {
  InvalidReconcilerOptionsError,
  type ReconcilerDeps,
  type ReconcilerLogger,
  type ReconcilerOptions,
  reconcile,
  resolveReconcilerOptions,
} from './reconcile';

/** Publishing the run's metrics failed; `cause` carries the CloudWatch error. */
export class ReconcilerPublishError extends Error {
  override readonly name = 'ReconcilerPublishError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** How {@link reconcilerDependencies} builds a container. */
export interface ReconcilerContainerOptions {
  /**
   * DynamoDB endpoint per region (local runs): every configured region must
   * have one, a region without is refused rather than sent to AWS. The AWS
   * endpoints otherwise.
   */
  readonly endpoints?: Readonly<Record<string, string>>;
  /** Static credentials for those endpoints. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Where the points go. @default CloudWatch in `region` */
  readonly metrics?: MetricPublisher;
  /** @default a Powertools Logger, service `rate-limiter-reconciler` */
  readonly logger?: ReconcilerLogger;
  readonly options?: ReconcilerOptions;
}

/** The dependencies of one container, and how to close what they hold. */
export interface ReconcilerContainer extends ReconcilerDeps {
  /**
   * Destroys the container's DynamoDB clients, ending calls in flight (local
   * runs and tests; a Lambda container never closes).
   */
  close(): void;
}

/**
 * The reconciler's composition root: a client, a bucket store and a
 * replication store per replica (built on first use and kept for the
 * container's life), the metric publisher and the logger.
 *
 * @throws InvalidReconcilerOptionsError when the options are inconsistent, or
 *   endpoints are given but not for every configured region (each one listed)
 */
export function reconcilerDependencies(
  config: LimiterConfig,
  region: string,
  container: ReconcilerContainerOptions = {},
): ReconcilerContainer {
  const options = resolveReconcilerOptions(config, container.options);
  const endpoints = container.endpoints;
  if (endpoints !== undefined) {
    const missing = config.regions.filter((r) => endpoints[r] === undefined);
    if (missing.length > 0) {
      throw new InvalidReconcilerOptionsError(
        missing.map((r) => `no DynamoDB endpoint for region "${r}"`),
      );
    }
  }
  const stores = replicaStores({
    tableName: config.tableName,
    access: storeAccessOf(container),
    // Per-attempt timeouts follow the per-call bound; the call's signal enforces it anyway.
    callTimeoutMs: options.callTimeoutMs,
    maxSockets: options.maxConcurrency + config.regions.length,
  });
  return {
    region,
    config,
    replicationStore: stores.replicationStore,
    bucketStore: stores.bucketStore,
    metrics:
      container.metrics ?? cloudWatchPublisher(new CloudWatchClient({ region, maxAttempts: 3 })),
    logger: container.logger ?? new Logger({ serviceName: 'rate-limiter-reconciler' }),
    ...(container.options === undefined ? {} : { options: container.options }),
    close: stores.close,
  };
}

function storeAccessOf(container: ReconcilerContainerOptions): StoreAccess {
  const endpoints = container.endpoints;
  if (endpoints === undefined) return {};
  return {
    endpointOf: (r) => {
      const endpoint = endpoints[r];
      if (endpoint === undefined) throw new RangeError(`no DynamoDB endpoint for region "${r}"`);
      return endpoint;
    },
    ...(container.credentials === undefined ? {} : { credentials: container.credentials }),
  };
}

/**
 * The handler of one container: runs the reconciler once per invocation and
 * returns its status.
 *
 * @throws {@link ReconcilerPublishError} when the metrics could not be published.
 */
export function createReconcilerHandler(
  deps: ReconcilerDeps,
  nowFn: () => number = Date.now,
): () => Promise<ReconcilerStatus> {
  return async () => {
    const result = await reconcile(deps, nowFn);
    if (result.publishError !== undefined) {
      throw new ReconcilerPublishError(
        `publishing ${result.metricData.length} reconciler data points failed`,
        { cause: result.publishError },
      );
    }
    return result.status;
  };
}

const ENV_REGION = process.env.AWS_REGION;
let container: (() => Promise<ReconcilerStatus>) | undefined;

/** The Lambda entry point (scheduled event; the event itself is not read). */
export async function handler(): Promise<ReconcilerStatus> {
  if (container === undefined) {
    if (ENV_REGION === undefined || ENV_REGION.length === 0) {
      throw new Error(
        'AWS_REGION is not set: the reconciler needs its region to write its heartbeat',
      );
    }
    container = createReconcilerHandler(reconcilerDependencies(bundledConfig(), ENV_REGION));
  }
  return container();
}
