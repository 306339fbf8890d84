/**
 * The AWS SDK's DynamoDB client, created once per container and reused by
 * every invocation: TLS connections are kept alive (a fresh handshake costs
 * more than the whole decision budget), every attempt has a connection and a
 * request timeout, and the SDK's own retries are limited so that they fit in
 * the decision's time budget (transport.ts {@link timeoutsForBudget}). The
 * budget itself is enforced by the caller's AbortSignal; these timeouts only
 * stop a single hung attempt early.
 *
 * The regional functions reach DynamoDB through it (sdk-transport.ts); the
 * edge does not (http-transport.ts, docs/performance.md).
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DEFAULT_MAX_SOCKETS,
  DEFAULT_TRANSPORT_BUDGET_MS,
  type TransportOptions,
  timeoutsForBudget,
  transportCacheKey,
} from './transport';

/** How to build a client: the options of every transport. */
export type DynamoDbClientOptions = TransportOptions;

const clients = new Map<string, DynamoDBClient>();

/**
 * The container's client for a replica; the same instance for the same
 * options. Never destroyed: it lives as long as the container.
 */
export function dynamoDbClient(options: DynamoDbClientOptions): DynamoDBClient {
  const cacheKey = transportCacheKey(options);
  const cached = clients.get(cacheKey);
  if (cached !== undefined) return cached;
  const client = createDynamoDbClient(options);
  clients.set(cacheKey, client);
  return client;
}

/** A new client (tests and benchmarks that need their own; handlers use {@link dynamoDbClient}). */
export function createDynamoDbClient(options: DynamoDbClientOptions): DynamoDBClient {
  const timeouts = timeoutsForBudget(options.budgetMs ?? DEFAULT_TRANSPORT_BUDGET_MS);
  const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
  return new DynamoDBClient({
    region: options.region,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    maxAttempts: timeouts.maxAttempts,
    requestHandler: {
      connectionTimeout: timeouts.connectionTimeoutMs,
      requestTimeout: timeouts.requestTimeoutMs,
      // Without it a breached requestTimeout is only logged (smithy's legacy behaviour).
      throwOnRequestTimeout: true,
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
    },
  });
}
