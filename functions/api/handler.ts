/**
 * The regional rate-limit API (Lambda function URL or API Gateway HTTP API,
 * payload format 2.0). Thin on purpose: parse, call the limiter, shape.
 *
 * - `POST /v1/limit` `{ policy, key, cost? }` consumes: 200, 429 (refused),
 *   403 (deny-listed key), or 403/400 naming the policy's `apiAccess` rule
 *   that refuses it before the limiter is asked (consume-guard.ts);
 * - `GET /v1/limit?policy=&key=&cost=` peeks: always 200, `allowed` says
 *   what a consume would get now;
 * - `GET /health`: store reachability and the reconciler's last replication
 *   lag (200, or 503 when the store is unreachable);
 * - `/v1/overrides[/{policy}[/{key}]]`: run-time overrides of the limits
 *   (overrides-routes.ts);
 * - 400 names the problem of bad input, 404 unknown path, 405 wrong method.
 *
 * The container's dependencies are built once, at the first invocation, from
 * the config compiled into the bundle and the environment captured when the
 * module loads (`AWS_REGION`; `LIMITER_DYNAMODB_ENDPOINT` for local runs).
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { DEFAULT_RUNTIME, resolveConfig } from '../config/resolve';
import type { LimiterConfig } from '../config/schema';
import { LimitRequestError } from '../limiter/errors';
import { Limiter } from '../limiter/limiter';
import { OverrideCache } from '../limiter/overrides';
import type { LimitRequest, LimitResult } from '../limiter/types';
import { bundledConfig } from '../shared/bundled-config';
import { JSON_HEADERS, problem } from '../shared/http';
import { EmfLimiterMetrics } from '../shared/metrics';
import { rateLimitHeaders, retryAfterSeconds, secondsCeil } from '../shared/ratelimit-headers';
import { overrideTableFor } from '../store/override-table';
import { replicationStoreFor } from '../store/regional-stores';
import { sdkTransport } from '../store/sdk-transport';
import { bucketStoresFor } from '../store/stores';
import type { BucketStore } from '../store/types';
import { type ConsumeGuard, consumeGuardOf } from './consume-guard';
import { checkHealth, type ReplicationStatusReader } from './health';
import { isOverridePath, type OverrideRoutesDependencies, overrideRoute } from './overrides-routes';
import { BadRequestError, parseLimitBody, parseLimitQuery } from './request';

/** The API's routes. */
export const ROUTES = { limit: '/v1/limit', health: '/health' } as const;

/** What one container of the API runs with. */
export interface ApiDependencies {
  readonly limiter: Pick<Limiter, 'limit' | 'peek'>;
  /** What a consume may take, by each policy's `apiAccess` ({@link consumeGuardOf}). */
  readonly consumeGuard: ConsumeGuard;
  readonly region: string;
  /** The replica probed by /health. */
  readonly store: BucketStore;
  readonly statusReader?: ReplicationStatusReader;
  /** Budget of the /health probe (ms). */
  readonly healthBudgetMs?: number;
  /** Milliseconds since the epoch (for `resetAt`). @default Date.now */
  readonly clock?: () => number;
  /** The override routes (overrides-routes.ts); absent: they answer 404. */
  readonly overrides?: OverrideRoutesDependencies;
  /** Awaited before every invocation (the override cache's freshness, overrides.ts). */
  readonly beforeInvocation?: () => Promise<void> | undefined;
  /** Called after every invocation, answered or failed (flushes metrics once per interval). */
  readonly afterInvocation?: () => void;
  /** Where unexpected errors are reported. @default console.error */
  readonly logError?: (message: string, error: unknown) => void;
}

/** The decision as the API answers it. */
export interface LimitAnswer {
  readonly allowed: boolean;
  readonly policy: string;
  /** Capacity of the bucket (tokens). */
  readonly limit: number;
  /** Whole tokens left. */
  readonly remaining: number;
  /** When the bucket is full again (ISO 8601). */
  readonly resetAt: string;
  /** Seconds until one more request of this cost is admitted (rounded up); null for deny-listed keys. */
  readonly retryAfterSeconds: number | null;
  /** Where the decision came from (store, lease, blocked, allowlist, denylist, fallback). */
  readonly source: LimitResult['source'];
  /** With source `fallback`: which failure mode decided. */
  readonly fallback?: LimitResult['fallback'];
  /** Shadow policies: what would have been enforced. */
  readonly shadow?: LimitResult['shadow'];
}

type Result = APIGatewayProxyStructuredResultV2;

/** Builds the handler of one container. */
export function createApiHandler(
  deps: ApiDependencies,
): (event: APIGatewayProxyEventV2) => Promise<Result> {
  const clock = deps.clock ?? Date.now;
  const logError = deps.logError ?? ((message, error) => console.error(message, error));
  return async (event) => {
    try {
      await deps.beforeInvocation?.();
      return await route(event, deps, clock);
    } catch (error) {
      logError('regional API: unexpected error', error);
      return json(500, problem('internal', 'the rate limiter failed; see the function logs'));
    } finally {
      deps.afterInvocation?.();
    }
  };
}

async function route(
  event: APIGatewayProxyEventV2,
  deps: ApiDependencies,
  clock: () => number,
): Promise<Result> {
  const method = event.requestContext?.http?.method?.toUpperCase() ?? 'GET';
  const path = pathOf(event);
  if (path === ROUTES.limit) {
    if (method === 'POST')
      return decide(
        deps,
        clock,
        () => parseLimitBody(event.body, event.isBase64Encoded === true),
        'limit',
      );
    if (method === 'GET')
      return decide(deps, clock, () => parseLimitQuery(event.queryStringParameters), 'peek');
    return methodNotAllowed('GET, POST');
  }
  if (path === ROUTES.health) {
    if (method !== 'GET') return methodNotAllowed('GET');
    const report = await checkHealth({
      region: deps.region,
      store: deps.store,
      budgetMs: deps.healthBudgetMs ?? DEFAULT_RUNTIME.storeBudgetMs,
      ...(deps.statusReader === undefined ? {} : { statusReader: deps.statusReader }),
    });
    return json(report.store.reachable ? 200 : 503, report);
  }
  if (deps.overrides !== undefined && isOverridePath(path)) {
    return overrideRoute(event, method, path, deps.overrides);
  }
  return json(
    404,
    problem('not_found', `no route ${path}: use ${ROUTES.limit} or ${ROUTES.health}`),
  );
}

async function decide(
  deps: ApiDependencies,
  clock: () => number,
  parse: () => LimitRequest,
  mode: 'limit' | 'peek',
): Promise<Result> {
  let request: LimitRequest;
  let result: LimitResult;
  try {
    request = parse();
    const refused = mode === 'limit' ? deps.consumeGuard(request) : undefined;
    if (refused !== undefined) return json(refused.status, refused.body);
    result =
      mode === 'limit' ? await deps.limiter.limit(request) : await deps.limiter.peek(request);
  } catch (error) {
    if (error instanceof BadRequestError || error instanceof LimitRequestError) {
      return json(400, problem('bad_request', error.message));
    }
    throw error;
  }
  const status = mode === 'peek' || result.allowed ? 200 : result.source === 'denylist' ? 403 : 429;
  const headers = rateLimitHeaders(result);
  if (mode === 'peek') delete headers['Retry-After'];
  return json(status, answerOf(result, clock()), headers);
}

/** The JSON answer of a decision. */
export function answerOf(result: LimitResult, nowMs: number): LimitAnswer {
  return {
    allowed: result.allowed,
    policy: result.policy,
    limit: result.limitTokens,
    remaining: result.remainingTokens,
    resetAt: new Date(nowMs + result.resetAfterMs).toISOString(),
    retryAfterSeconds:
      result.source === 'denylist'
        ? null
        : result.allowed
          ? secondsCeil(result.retryAfterMs)
          : retryAfterSeconds(result),
    source: result.source,
    ...(result.fallback === undefined ? {} : { fallback: result.fallback }),
    ...(result.shadow === undefined ? {} : { shadow: result.shadow }),
  };
}

/** The route path: `rawPath` without an API Gateway stage prefix. */
function pathOf(event: APIGatewayProxyEventV2): string {
  const raw = event.rawPath ?? '/';
  const stage = event.requestContext?.stage;
  const trimmed =
    stage !== undefined && stage !== '$default' && raw.startsWith(`/${stage}/`)
      ? raw.slice(stage.length + 1)
      : raw;
  return trimmed.length > 1 && trimmed.endsWith('/') ? trimmed.slice(0, -1) : trimmed;
}

function methodNotAllowed(allow: string): Result {
  return json(405, problem('method_not_allowed', `use ${allow}`), { Allow: allow });
}

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): Result {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

const ENV_REGION = process.env.AWS_REGION;
const ENV_ENDPOINT = process.env.LIMITER_DYNAMODB_ENDPOINT;
/** Credentials for an emulated endpoint (dynalite checks none). */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The API's composition root: the container's dependencies from the bundled config and the environment. */
export function defaultDependencies(
  raw: LimiterConfig,
  region: string,
  endpoint?: string,
): ApiDependencies {
  const config = resolveConfig(raw);
  const access =
    endpoint === undefined ? {} : { endpointOf: () => endpoint, credentials: LOCAL_CREDENTIALS };
  // The SDK client: the status reader below shares it (regional-stores.ts).
  const stores = bucketStoresFor(config, region, sdkTransport, access);
  const metrics = new EmfLimiterMetrics();
  const table = overrideTableFor(config, region, sdkTransport, access);
  const overrides = new OverrideCache({
    config,
    read: (signal) => table.read({ abortSignal: signal }),
  });
  const limiter = new Limiter({
    config,
    region: stores.replica,
    store: stores.store,
    metrics,
    overrides,
    ...(stores.strongStore === undefined ? {} : { strongStore: stores.strongStore }),
  });
  return {
    limiter,
    consumeGuard: consumeGuardOf(config),
    region,
    store: stores.store,
    healthBudgetMs: config.runtime.storeBudgetMs,
    statusReader: replicationStoreFor(config, region, access),
    overrides: { config, table, region },
    beforeInvocation: () => overrides.ready(),
    afterInvocation: () => {
      metrics.flushIfDue();
    },
  };
}

let container: ((event: APIGatewayProxyEventV2) => Promise<Result>) | undefined;

/** The Lambda entry point. */
export async function handler(event: APIGatewayProxyEventV2): Promise<Result> {
  if (container === undefined) {
    if (ENV_REGION === undefined || ENV_REGION.length === 0) {
      throw new Error(
        'AWS_REGION is not set: the regional API needs its region to pick its slot and replica',
      );
    }
    container = createApiHandler(defaultDependencies(bundledConfig(), ENV_REGION, ENV_ENDPOINT));
  }
  return container(event);
}
