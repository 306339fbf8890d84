/**
 * The store side shared by the store-traffic and scale benchmarks: emulated
 * regions (one dynalite each, replicating like a global table), a counting
 * proxy in front of every region's endpoint, and a bucket store per region.
 * Why the proxy sits in front of the emulator: replication deliveries go
 * straight to the receiving dynalite, so the proxies count exactly the
 * requests a limiter sends, i.e. what DynamoDB would bill in that region.
 */

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { CloudFrontRequestEvent } from 'aws-lambda';
import { assertConfig, type LimiterConfig, type PolicyConfig } from '../functions/config/schema';
import { createDynamoDbClient } from '../functions/store/client';
import { DynamoDbStore } from '../functions/store/dynamodb-store';
import { SdkTransport } from '../functions/store/sdk-transport';
import { bucketTableDefinition } from '../functions/store/table';
import config from '../limiter.config';
import { RegionEmulator } from '../local/emulator';
import {
  type BilledTraffic,
  billedTraffic,
  CountingProxy,
  diffCounts,
  type TrafficCounts,
} from './counting-proxy';

/** Name of the bucket table in benchmarks. */
export const BENCH_TABLE = 'bench-buckets';

const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** One emulated region as a benchmark sees it. */
export interface BenchRegion {
  readonly name: string;
  readonly proxy: CountingProxy;
  readonly client: DynamoDBClient;
  readonly store: DynamoDbStore;
}

/** Emulated regions behind counting proxies. Create with {@link StoreHarness.start}. */
export class StoreHarness {
  private constructor(
    readonly emulator: RegionEmulator,
    readonly regions: readonly BenchRegion[],
  ) {}

  /**
   * Starts `regionNames.length` emulated regions with the bucket table and a
   * counting proxy in front of each.
   *
   * @param lagMs - replication lag of every link (ms)
   */
  static async start(regionNames: readonly string[], lagMs = 0): Promise<StoreHarness> {
    const emulator = await RegionEmulator.start({ regions: regionNames, lagMs });
    const regions: BenchRegion[] = [];
    try {
      await emulator.createTable(bucketTableDefinition(BENCH_TABLE));
      for (const name of regionNames) {
        const proxy = await CountingProxy.start(emulator.endpoint(name));
        const client = createDynamoDbClient({
          region: name,
          endpoint: proxy.endpoint,
          credentials: LOCAL_CREDENTIALS,
          budgetMs: 2_000,
        });
        regions.push({
          name,
          proxy,
          client,
          store: new DynamoDbStore({ transport: new SdkTransport(client), tableName: BENCH_TABLE }),
        });
      }
    } catch (error) {
      for (const r of regions) await r.proxy.stop();
      await emulator.stop();
      throw error;
    }
    return new StoreHarness(emulator, regions);
  }

  /** Counters of every region's proxy, summed per operation. */
  snapshot(): TrafficCounts {
    const total: TrafficCounts = {};
    for (const region of this.regions) {
      for (const [op, c] of Object.entries(region.proxy.snapshot())) {
        const t = total[op] ?? { calls: 0, failedConditional: 0, errors: 0, units: 0 };
        t.calls += c.calls;
        t.failedConditional += c.failedConditional;
        t.errors += c.errors;
        t.units += c.units;
        total[op] = t;
      }
    }
    return total;
  }

  /** Billed traffic since `before` (a {@link StoreHarness.snapshot}). */
  billedSince(before: TrafficCounts): BilledTraffic {
    return billedTraffic(diffCounts(this.snapshot(), before));
  }

  /** Stops proxies, clients and the emulated regions. */
  async stop(): Promise<void> {
    for (const r of this.regions) {
      r.client.destroy();
      await r.proxy.stop();
    }
    await this.emulator.stop();
  }
}

/**
 * A valid limiter config for benchmarks: the project's config with its
 * regions and policies replaced.
 */
export function benchConfig(
  regions: readonly string[],
  policies: readonly PolicyConfig[],
  runtime?: LimiterConfig['runtime'],
): LimiterConfig {
  return assertConfig({
    ...config,
    regions,
    tableName: BENCH_TABLE,
    strong: undefined,
    policies,
    rules: policies.map((p) => ({
      id: p.id,
      match: { path: `/${p.id}/**` },
      policy: p.id,
      key: [{ header: 'x-api-key' }],
    })),
    defaultRule: undefined,
    runtime: { ...config.runtime, ...runtime },
  });
}

/** A CloudFront viewer-request `GET` as the benchmarks send it. */
export function viewerRequestEvent(request: {
  readonly uri: string;
  readonly apiKey: string;
  readonly clientIp: string;
  readonly requestId: string;
  readonly userAgent: string;
}): CloudFrontRequestEvent {
  return {
    Records: [
      {
        cf: {
          config: {
            distributionDomainName: 'd111111abcdef8.cloudfront.net',
            distributionId: 'EDFDVBD6EXAMPLE',
            eventType: 'viewer-request',
            requestId: request.requestId,
          },
          request: {
            clientIp: request.clientIp,
            headers: {
              host: [{ key: 'Host', value: 'd111111abcdef8.cloudfront.net' }],
              'x-api-key': [{ key: 'x-api-key', value: request.apiKey }],
              'user-agent': [{ key: 'User-Agent', value: request.userAgent }],
            },
            method: 'GET',
            querystring: '',
            uri: request.uri,
          },
        },
      },
    ],
  };
}
