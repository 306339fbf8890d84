/**
 * The DynamoDB client, created once per container and reused by every
 * invocation: TLS connections are kept alive (a fresh handshake costs more
 * than the whole decision budget), every attempt has a connection and a
 * request timeout, and the SDK's own retries are limited so that they fit in
 * the decision's time budget. The budget itself is enforced by the caller's
 * AbortSignal; these timeouts only stop a single hung attempt early.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** How to build a client. */
export interface DynamoDbClientOptions {
  /** Region of the replica to talk to. */
  readonly region: string;
  /** Endpoint override (local runs: an embedded DynamoDB on loopback). */
  readonly endpoint?: string;
  /** Static credentials (local runs); the default provider chain otherwise. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Time budget of one decision's store calls, from which timeouts are derived. @default 150 */
  readonly budgetMs?: number;
  /** Most sockets per client. @default 50 */
  readonly maxSockets?: number;
}

/** Connection timeout floor (ms): matches the limiter's cold-store budget. */
export const COLD_CONNECTION_TIMEOUT_MS = 1000;

/** Timeouts and attempts that fit in a budget. */
export interface ClientTimeouts {
  /** TCP + TLS connection phase of one attempt (ms). */
  readonly connectionTimeoutMs: number;
  /** One attempt, request and response (ms). */
  readonly requestTimeoutMs: number;
  /** Attempts per call, the first one included. */
  readonly maxAttempts: number;
}

/**
 * Derives per-attempt timeouts from a decision budget: one attempt may use the
 * whole budget (the AbortSignal cuts the call at the budget anyway), and a
 * second attempt is allowed only when the budget leaves room for a fast retry
 * (a throttled or reset first attempt), i.e. from 100 ms on.
 */
export function timeoutsForBudget(budgetMs: number): ClientTimeouts {
  const bounded = Math.max(10, Math.floor(budgetMs));
  return {
    // Opening a connection (TCP + TLS, possibly to a distant replica) happens
    // once per container and may take longer than a warm call; the limiter
    // gives that first call its cold budget and its AbortSignal still bounds it.
    connectionTimeoutMs: Math.max(bounded, COLD_CONNECTION_TIMEOUT_MS),
    requestTimeoutMs: bounded,
    maxAttempts: bounded >= 100 ? 2 : 1,
  };
}

const clients = new Map<string, DynamoDBClient>();

/**
 * The container's client for a replica; the same instance for the same
 * options. Never destroyed: it lives as long as the container.
 */
export function dynamoDbClient(options: DynamoDbClientOptions): DynamoDBClient {
  const cacheKey = JSON.stringify([
    options.region,
    options.endpoint ?? '',
    options.budgetMs ?? 150,
    options.maxSockets ?? 50,
    options.credentials?.accessKeyId ?? '',
  ]);
  const cached = clients.get(cacheKey);
  if (cached !== undefined) return cached;
  const client = createDynamoDbClient(options);
  clients.set(cacheKey, client);
  return client;
}

/** A new client (tests and benchmarks that need their own; handlers use {@link dynamoDbClient}). */
export function createDynamoDbClient(options: DynamoDbClientOptions): DynamoDBClient {
  const timeouts = timeoutsForBudget(options.budgetMs ?? 150);
  const maxSockets = options.maxSockets ?? 50;
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
