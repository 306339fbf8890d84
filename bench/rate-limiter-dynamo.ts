/**
 * The reference limiter: rate-limiter-flexible's RateLimiterDynamo, wired the
 * way its documentation shows, on the same emulated DynamoDB as ours.
 *
 * Why it is the comparison: it is the most used Node limiter with a DynamoDB
 * store. It is a fixed-window counter (not a token bucket) kept in one item per
 * key: each `consume` is a conditional UpdateItem that only succeeds when the
 * window has expired, followed (inside a window) by a second, unconditional
 * UpdateItem that adds the points. Refused requests are written too, unless
 * its `inMemoryBlockOnConsumed` option is set, which then remembers a blocked
 * key in process memory until the window ends (the counterpart of our
 * blocked-until cache); both settings are measured.
 *
 * Its table (from its source): partition key `key` (S), TTL on `expire`; it
 * must be created beforehand when `tableCreated: true`, and `ttlSet: true`
 * skips its DescribeTimeToLive call (dynalite has no TTL API).
 */

import { Agent } from 'node:http';
import { type CreateTableCommandInput, DynamoDB } from '@aws-sdk/client-dynamodb';
import type { CloudFrontRequestEvent, CloudFrontRequestResult } from 'aws-lambda';
import { RateLimiterDynamo, RateLimiterRes } from 'rate-limiter-flexible';
import type { EdgeFunctions } from '../local/edge-server';

/** Table name of the reference limiter. */
export const RLF_TABLE = 'rlf-buckets';

/** The table RateLimiterDynamo expects (on-demand billing). */
export function rateLimiterDynamoTable(tableName = RLF_TABLE): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'key', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'key', KeyType: 'HASH' }],
  };
}

/** Settings of one RateLimiterDynamo. */
export interface ReferenceLimiterOptions {
  /** DynamoDB endpoint (loopback). */
  readonly endpoint: string;
  readonly region: string;
  /** Points per window. */
  readonly points: number;
  /** Window length (s). */
  readonly durationSeconds: number;
  /** Remember blocked keys in memory until their window ends. @default false */
  readonly inMemoryBlock?: boolean;
  /** Prefix of its keys, so runs do not share state. */
  readonly keyPrefix: string;
  /** Most sockets of its client (same as ours). @default 50 */
  readonly maxSockets?: number;
}

/** A RateLimiterDynamo and the client it owns. */
export interface ReferenceLimiter {
  /** Resolves `true` when admitted, `false` when refused; rejects on store errors. */
  consume(key: string): Promise<{ readonly allowed: boolean; readonly msBeforeNext: number }>;
  /** Closes its client. */
  close(): void;
}

/** Builds a RateLimiterDynamo on its own client, keep-alive like ours. */
export function referenceLimiter(options: ReferenceLimiterOptions): ReferenceLimiter {
  const client = new DynamoDB({
    endpoint: options.endpoint,
    region: options.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
    requestHandler: {
      httpAgent: new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 50 }),
    },
  });
  const limiter = new RateLimiterDynamo({
    storeClient: client,
    tableName: RLF_TABLE,
    tableCreated: true,
    ttlSet: true,
    points: options.points,
    duration: options.durationSeconds,
    keyPrefix: options.keyPrefix,
    ...(options.inMemoryBlock === true ? { inMemoryBlockOnConsumed: options.points } : {}),
  });
  return {
    async consume(key) {
      try {
        const res = await limiter.consume(key, 1);
        return { allowed: true, msBeforeNext: res.msBeforeNext };
      } catch (error) {
        if (error instanceof RateLimiterRes)
          return { allowed: false, msBeforeNext: error.msBeforeNext };
        throw error;
      }
    },
    close: () => client.destroy(),
  };
}

/**
 * Viewer-request functions deciding with a {@link ReferenceLimiter}: the key
 * from `keyHeader` (or the viewer IP), a 429 with `Retry-After` when refused,
 * the request unchanged when admitted. The same edge server and origin serve
 * it as serve ours; only the decision differs.
 */
export function referenceEdgeFunctions(
  limiter: ReferenceLimiter,
  keyHeader: string,
): EdgeFunctions {
  return {
    async viewerRequest(event: CloudFrontRequestEvent): Promise<CloudFrontRequestResult> {
      const request = event.Records[0]?.cf.request;
      if (request === undefined) throw new Error('viewer-request event without a request');
      const key = request.headers[keyHeader]?.[0]?.value ?? request.clientIp;
      const decision = await limiter.consume(key);
      if (decision.allowed) return request;
      return {
        status: '429',
        statusDescription: 'Too Many Requests',
        headers: {
          'retry-after': [
            {
              key: 'Retry-After',
              value: String(Math.max(1, Math.ceil(decision.msBeforeNext / 1000))),
            },
          ],
          'content-type': [{ key: 'Content-Type', value: 'text/plain' }],
        },
        body: 'Too Many Requests',
      };
    },
  };
}

/** Viewer-request functions that forward everything: the no-limiter ceiling. */
export const PASS_THROUGH_EDGE: EdgeFunctions = {
  async viewerRequest(event: CloudFrontRequestEvent): Promise<CloudFrontRequestResult> {
    const request = event.Records[0]?.cf.request;
    if (request === undefined) throw new Error('viewer-request event without a request');
    return request;
  },
};
