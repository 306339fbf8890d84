/**
 * An embedded DynamoDB (dynalite, in memory) for tests and measurements.
 *
 * `startDynalite()` listens on a free loopback port, creates the bucket table
 * (pk/sk, functions/store/table.ts) unless told otherwise, and hands back a
 * client plus `stop()`. Every call starts a fresh, empty database, so tests
 * do not share state. Remember dynalite's gaps (docs/design.md, The local runtime): no
 * transactions, no TTL expiry, and it ignores
 * `ReturnValuesOnConditionCheckFailure` (a failed condition carries no item).
 *
 * @example
 * ```ts
 * let db: LocalDynamo;
 * beforeAll(async () => { db = await startDynalite(); });
 * afterAll(() => db.stop());
 * // new DynamoDbStore({ client: db.client, tableName: db.tableName })
 * ```
 */
import type http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { createHttpTransport } from '../../functions/store/http-transport';
import { SdkTransport } from '../../functions/store/sdk-transport';
import { bucketTableDefinition } from '../../functions/store/table';
import type { DynamoDbTransport } from '../../functions/store/transport';

const require = createRequire(import.meta.url);
const dynalite = require('dynalite') as (options: { createTableMs?: number }) => http.Server;

/** Credentials dynalite accepts (it checks nothing). */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** How long `stop()` lets requests in flight finish before closing every connection (ms). */
const STOP_GRACE_MS = 250;

/** Default table name of {@link startDynalite}. */
export const DEFAULT_TEST_TABLE = 'buckets';

/** Options of {@link startDynalite}. */
export interface StartDynaliteOptions {
  /**
   * Bucket tables to create (pk/sk key schema). Pass `[]` to create none.
   * @default ['buckets']
   */
  readonly tables?: readonly string[];
  /** Other tables, as full `CreateTable` inputs (e.g. a third-party limiter's). */
  readonly extraTables?: readonly CreateTableCommandInput[];
  /** Region the client claims. @default 'us-east-1' */
  readonly region?: string;
}

/** A running embedded DynamoDB. */
export interface LocalDynamo {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  readonly port: number;
  /** The first bucket table created (or {@link DEFAULT_TEST_TABLE}). */
  readonly tableName: string;
  /** A client of the endpoint: one attempt per call, no SDK retries. */
  readonly client: DynamoDBClient;
  /** Creates another table. */
  createTable(input: CreateTableCommandInput): Promise<void>;
  /** Closes the client and the server. Safe to call twice. */
  stop(): Promise<void>;
}

/** Starts an embedded DynamoDB on a free loopback port and creates the tables. */
export async function startDynalite(options: StartDynaliteOptions = {}): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: options.region ?? 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    client.destroy();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // Let requests in flight finish (dynalite fails them once its database closes),
    // then drop the keep-alive connections of clients the caller did not destroy.
    const force = setTimeout(() => server.closeAllConnections(), STOP_GRACE_MS);
    force.unref();
    await closed;
    clearTimeout(force);
  };
  const createTable = async (input: CreateTableCommandInput) => {
    await client.send(new CreateTableCommand(input));
  };
  const tables = options.tables ?? [DEFAULT_TEST_TABLE];
  try {
    for (const name of tables) await createTable(bucketTableDefinition(name));
    for (const input of options.extraTables ?? []) await createTable(input);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, port, tableName: tables[0] ?? DEFAULT_TEST_TABLE, client, createTable, stop };
}

/** A transport of `db` and how to close it. */
export type TransportOf = (db: LocalDynamo) => { transport: DynamoDbTransport; close(): void };

/** Both transports the store speaks over (the SDK client and the edge's light one), by name. */
export const TRANSPORTS: [string, TransportOf][] = [
  ['SDK client', (db) => ({ transport: new SdkTransport(db.client), close: () => undefined })],
  [
    'light HTTP transport',
    (db) => {
      // A budget far above the tests' needs: a timed-out write would not be the semantics tested.
      const transport = createHttpTransport({
        region: 'us-east-1',
        endpoint: db.endpoint,
        credentials: LOCAL_CREDENTIALS,
        budgetMs: 30_000,
      });
      return { transport, close: () => transport.destroy() };
    },
  ],
];
