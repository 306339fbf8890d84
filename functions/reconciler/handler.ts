/**
 * The reconciler's Lambda entry point, run every minute by a schedule in
 * each region. Thin on purpose: it builds the container's clients once and
 * calls {@link reconcile}; everything it measures is in reconcile.ts.
 *
 * Config comes compiled into the bundle (shared/bundled-config.ts), the
 * region from `AWS_REGION`. The global table has the same name in every
 * replica region, so a client per region reaches each replica; local runs
 * inject an endpoint per region instead.
 *
 * The invocation fails (and the function-errors alarm sees it) only when the
 * metrics could not be published: store problems are findings, published as
 * breaches, not failures of the function.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LimiterConfig } from '../config/schema';
import { bundledConfig } from '../shared/bundled-config';
import { dynamoDbClient } from '../store/client';
import { DynamoDbStore } from '../store/dynamodb-store';
import type { BucketStore } from '../store/types';
import { cloudWatchPublisher, type MetricPublisher } from './metrics';
import {
  type ReconcilerDeps,
  type ReconcilerLogger,
  type ReconcilerOptions,
  reconcile,
  resolveReconcilerOptions,
} from './reconcile';
import type { ReconcilerStatus } from './status';

/** Publishing the run's metrics failed; `cause` carries the CloudWatch error. */
export class ReconcilerPublishError extends Error {
  override readonly name = 'ReconcilerPublishError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** How {@link reconcilerDependencies} builds a container. */
export interface ReconcilerContainerOptions {
  /** DynamoDB endpoint per region (local runs); the AWS endpoints otherwise. */
  readonly endpoints?: Readonly<Record<string, string>>;
  /** Static credentials for those endpoints. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Where the points go. @default CloudWatch in `region` */
  readonly metrics?: MetricPublisher;
  /** @default a Powertools Logger, service `rate-limiter-reconciler` */
  readonly logger?: ReconcilerLogger;
  readonly options?: ReconcilerOptions;
}

/** The dependencies of one container: a client and a store per replica, built lazily and kept. */
export function reconcilerDependencies(
  config: LimiterConfig,
  region: string,
  container: ReconcilerContainerOptions = {},
): ReconcilerDeps {
  const options = resolveReconcilerOptions(config, container.options);
  const stores = new Map<string, BucketStore>();
  const clientOf = (r: string): DynamoDBClient => {
    const endpoint = container.endpoints?.[r];
    return dynamoDbClient({
      region: r,
      // Per-attempt timeouts follow the per-call bound; the call's signal enforces it anyway.
      budgetMs: options.callTimeoutMs,
      maxSockets: options.maxConcurrency + config.regions.length,
      ...(endpoint === undefined ? {} : { endpoint }),
      ...(container.credentials === undefined ? {} : { credentials: container.credentials }),
    });
  };
  const storeOf = (r: string): BucketStore => {
    let store = stores.get(r);
    if (store === undefined) {
      store = new DynamoDbStore({ client: clientOf(r), tableName: config.tableName });
      stores.set(r, store);
    }
    return store;
  };
  return {
    region,
    config,
    dynamoDb: clientOf,
    bucketStore: storeOf,
    metrics:
      container.metrics ?? cloudWatchPublisher(new CloudWatchClient({ region, maxAttempts: 3 })),
    logger: container.logger ?? new Logger({ serviceName: 'rate-limiter-reconciler' }),
    ...(container.options === undefined ? {} : { options: container.options }),
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
