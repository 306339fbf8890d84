/**
 * The transport port: how the DynamoDB adapters reach one replica. It carries
 * the three operations the bucket store needs, with DynamoDB's own request
 * and response shapes (the JSON protocol's field names; items are the
 * attribute-value maps codec.ts reads and writes), so an implementation adds
 * nothing but the wire:
 *
 * - sdk-transport.ts: the AWS SDK client (client.ts), for the regional
 *   functions, the tests that want it, and comparison;
 * - http-transport.ts: DynamoDB's JSON protocol, SigV4-signed, over a
 *   keep-alive `node:http(s)` agent, for the edge, where the SDK's pipeline
 *   costs more CPU than the whole decision (docs/performance.md).
 *
 * Contract of every implementation, so that errors.ts maps both alike:
 * - a failed call rejects with an error whose `name` is DynamoDB's error code
 *   (`ConditionalCheckFailedException`, `ThrottlingException`, ...), with
 *   `$fault` (`client` | `server`) and `$metadata.httpStatusCode` when an
 *   HTTP answer came back; a failed condition carries the stored item as
 *   `Item` when `ReturnValuesOnConditionCheckFailure` asked for it;
 * - a network failure keeps Node's `code` (`ECONNREFUSED`, `ECONNRESET`, ...);
 * - a breached connection or request timeout rejects with `name`
 *   `TimeoutError`, an aborted signal with `name` `AbortError`;
 * - attempts, timeouts and retries follow {@link timeoutsForBudget}: at most
 *   one retry, and only when the budget leaves room for it.
 */

import type { CallSignal } from './call-signal';
import type { AttributeMap } from './codec';

/** Per-call options. */
export interface CallOptions {
  /** Abort the call (every attempt) when this signal fires. */
  readonly abortSignal?: CallSignal | undefined;
}

/** `GetItem` request (the fields the store uses). */
export interface GetItemRequest {
  readonly TableName: string;
  readonly Key: AttributeMap;
  readonly ConsistentRead?: boolean;
}

/** `GetItem` response. */
export interface GetItemResponse {
  readonly Item?: AttributeMap | undefined;
}

/** `Query` request (the fields the store uses). */
export interface QueryRequest {
  readonly TableName: string;
  readonly KeyConditionExpression: string;
  readonly ExpressionAttributeNames?: Readonly<Record<string, string>>;
  readonly ExpressionAttributeValues?: AttributeMap;
  readonly ConsistentRead?: boolean;
  readonly Limit?: number;
  readonly ExclusiveStartKey?: AttributeMap;
}

/** `Query` response. */
export interface QueryResponse {
  readonly Items?: AttributeMap[] | undefined;
  readonly LastEvaluatedKey?: AttributeMap | undefined;
}

/** `UpdateItem` request (the fields the store uses). */
export interface UpdateItemRequest {
  readonly TableName: string;
  readonly Key: AttributeMap;
  readonly UpdateExpression: string;
  readonly ConditionExpression?: string;
  readonly ExpressionAttributeNames?: Readonly<Record<string, string>>;
  readonly ExpressionAttributeValues?: AttributeMap;
  readonly ReturnValues?: 'NONE' | 'ALL_OLD' | 'UPDATED_OLD' | 'ALL_NEW' | 'UPDATED_NEW';
  readonly ReturnValuesOnConditionCheckFailure?: 'ALL_OLD' | 'NONE';
}

/** `UpdateItem` response. */
export interface UpdateItemResponse {
  readonly Attributes?: AttributeMap | undefined;
}

/** One replica's DynamoDB, as the bucket store needs it. */
export interface DynamoDbTransport {
  getItem(request: GetItemRequest, options?: CallOptions): Promise<GetItemResponse>;
  query(request: QueryRequest, options?: CallOptions): Promise<QueryResponse>;
  updateItem(request: UpdateItemRequest, options?: CallOptions): Promise<UpdateItemResponse>;
}

/** Static credentials (local endpoints). */
export interface StaticCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** How to reach one replica: the same options for every transport. */
export interface TransportOptions {
  /** Region of the replica to talk to. */
  readonly region: string;
  /** Endpoint override (local runs: an embedded DynamoDB on loopback). */
  readonly endpoint?: string;
  /**
   * Static credentials (local runs); otherwise the SDK's default provider
   * chain, or the Lambda environment for the light transport.
   */
  readonly credentials?: StaticCredentials;
  /** Time budget of one decision's store calls, from which timeouts are derived. @default 150 */
  readonly budgetMs?: number;
  /** Most sockets per replica. @default 50 */
  readonly maxSockets?: number;
}

/** Builds (or reuses) the container's transport of a replica. */
export type TransportFactory = (options: TransportOptions) => DynamoDbTransport;

/** Default of {@link TransportOptions.budgetMs}. */
export const DEFAULT_TRANSPORT_BUDGET_MS = 150;
/** Default of {@link TransportOptions.maxSockets}. */
export const DEFAULT_MAX_SOCKETS = 50;

/** Connection timeout floor (ms): matches the limiter's cold-store budget. */
export const COLD_CONNECTION_TIMEOUT_MS = 1000;

/** Timeouts and attempts that fit in a budget. */
export interface ClientTimeouts {
  /** Connection phase of one attempt (ms). */
  readonly connectionTimeoutMs: number;
  /** One attempt, from its start to its answer (ms). */
  readonly requestTimeoutMs: number;
  /** Attempts per call, the first one included. */
  readonly maxAttempts: number;
}

/**
 * Derives per-attempt timeouts from a decision budget: one attempt may use the
 * whole budget (the abort signal cuts the call at the budget anyway), and a
 * second attempt is allowed only when the budget leaves room for a fast retry
 * (a throttled or reset first attempt), i.e. from 100 ms on.
 */
export function timeoutsForBudget(budgetMs: number): ClientTimeouts {
  const bounded = Math.max(10, Math.floor(budgetMs));
  return {
    // Opening a connection (TCP + TLS, possibly to a distant replica) happens
    // once per container and may take longer than a warm call; the limiter
    // gives that first call its cold budget and its abort signal still bounds it.
    connectionTimeoutMs: Math.max(bounded, COLD_CONNECTION_TIMEOUT_MS),
    requestTimeoutMs: bounded,
    maxAttempts: bounded >= 100 ? 2 : 1,
  };
}

/** The cache key of a container's transport (or client) of a replica: equal options, same instance. */
export function transportCacheKey(options: TransportOptions): string {
  return JSON.stringify([
    options.region,
    options.endpoint ?? '',
    options.budgetMs ?? DEFAULT_TRANSPORT_BUDGET_MS,
    options.maxSockets ?? DEFAULT_MAX_SOCKETS,
    options.credentials?.accessKeyId ?? '',
  ]);
}
