/**
 * Measures store calls per decision and decision latency on an embedded
 * DynamoDB, for the issue note: our limiter with and without its caches and
 * leases, and rate-limiter-flexible's RateLimiterDynamo on the same dynalite
 * and the same request schedule.
 *
 * Run: `npx tsx test/store/store-calls.measure.ts [--seconds 4] [--rate-factor 5]`
 * (not a vitest file: it takes tens of seconds and prints figures, asserts nothing).
 *
 * Workload: one hot key, requests of cost 1 arriving on a fixed schedule at
 * `rate-factor` x the refill rate (closed loop, sequential, so each
 * decision's store calls are attributed exactly). Calls are counted at the SDK
 * (a middleware on each client), not by the limiters themselves.
 */
import { DynamoDB, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { RateLimiterDynamo, RateLimiterRes } from 'rate-limiter-flexible';
import type { PolicyConfig } from '../../functions/config/schema';
import { Limiter, type LimiterOptions } from '../../functions/limiter/limiter';
import { createDynamoDbClient } from '../../functions/store/client';
import { DynamoDbStore } from '../../functions/store/dynamodb-store';
import { SdkTransport } from '../../functions/store/sdk-transport';
import { LOCAL_CREDENTIALS, startDynalite } from '../helpers/dynalite';
import { configWith } from '../limiter/fixtures';

const REGION = 'us-east-1';
const THEIR_TABLE = 'rlflx';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}

const seconds = arg('seconds', 4);
const rateFactor = arg('rate-factor', 5);
const capacityTokens = 40;
const refillPerSecond = 20;
const requestsPerSecond = refillPerSecond * rateFactor;
const requestCount = Math.round(seconds * requestsPerSecond);

/** Counts every command a client sends. */
function countCalls(client: DynamoDBClient | DynamoDB): { calls: number } {
  const counter = { calls: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      counter.calls += 1;
      return next(args);
    },
    { step: 'initialize', name: 'countCalls' },
  );
  return counter;
}

interface Sample {
  readonly allowed: boolean;
  readonly calls: number;
  readonly latencyMs: number;
}

interface Summary {
  readonly name: string;
  readonly decisions: number;
  readonly admitted: number;
  readonly callsPerDecision: number;
  readonly callsPerAdmitted: number;
  readonly callsPerRefused: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly admittedP50Ms: number;
  readonly admittedP99Ms: number;
}

/** Runs `decide` on the schedule and attributes calls and latency to each decision. */
async function run(
  name: string,
  counter: { calls: number },
  decide: () => Promise<boolean>,
): Promise<Summary> {
  const samples: Sample[] = [];
  const spacingMs = 1000 / requestsPerSecond;
  const startMs = performance.now();
  for (let i = 0; i < requestCount; i += 1) {
    const dueMs = startMs + i * spacingMs;
    const waitMs = dueMs - performance.now();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    const callsBefore = counter.calls;
    const t0 = performance.now();
    const allowed = await decide();
    samples.push({
      allowed,
      calls: counter.calls - callsBefore,
      latencyMs: performance.now() - t0,
    });
  }
  const admitted = samples.filter((s) => s.allowed);
  const refused = samples.filter((s) => !s.allowed);
  const sum = (xs: Sample[]) => xs.reduce((a, s) => a + s.calls, 0);
  const sorted = (xs: Sample[]) => xs.map((s) => s.latencyMs).sort((a, b) => a - b);
  const pct = (xs: number[], p: number) =>
    xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;
  const all = sorted(samples);
  const admittedLatencies = sorted(admitted);
  return {
    name,
    decisions: samples.length,
    admitted: admitted.length,
    callsPerDecision: sum(samples) / samples.length,
    callsPerAdmitted: admitted.length === 0 ? 0 : sum(admitted) / admitted.length,
    callsPerRefused: refused.length === 0 ? 0 : sum(refused) / refused.length,
    p50Ms: pct(all, 0.5),
    p99Ms: pct(all, 0.99),
    admittedP50Ms: pct(admittedLatencies, 0.5),
    admittedP99Ms: pct(admittedLatencies, 0.99),
  };
}

async function main(): Promise<void> {
  const db = await startDynalite({
    extraTables: [
      {
        TableName: THEIR_TABLE,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'key', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'key', KeyType: 'HASH' }],
      },
    ],
  });
  const summaries: Summary[] = [];
  try {
    const policy: PolicyConfig = {
      id: 'measure',
      capacityTokens,
      refillTokens: refillPerSecond,
      refillIntervalMs: 1000,
      onStoreError: 'closed',
    };
    const leased: PolicyConfig = {
      ...policy,
      id: 'measure-leased',
      lease: { maxTokens: 10, ttlMs: 1000, maxShareOfLevel: 0.1 },
    };
    const ours: [string, PolicyConfig, Partial<LimiterOptions>][] = [
      ['ours: no caches', policy, { viewCacheMs: 0, blockedCache: false }],
      ['ours: view cache 250 ms', policy, { viewCacheMs: 250, blockedCache: false }],
      ['ours: view + blocked-until cache (default)', policy, {}],
      ['ours: default + leases (10 tokens, 1 s)', leased, {}],
    ];
    for (const [i, [name, p, options]] of ours.entries()) {
      const client = createDynamoDbClient({
        region: REGION,
        endpoint: db.endpoint,
        credentials: LOCAL_CREDENTIALS,
        budgetMs: 1000,
      });
      const counter = countCalls(client);
      const limiter = new Limiter({
        config: configWith([p]),
        region: REGION,
        store: new DynamoDbStore({ transport: new SdkTransport(client), tableName: db.tableName }),
        storeBudgetMs: 1000,
        ...options,
      });
      const key = `hot-${i}`;
      await limiter.peek({ policyId: p.id, key: 'warm-up', costTokens: 1 });
      summaries.push(
        await run(
          name,
          counter,
          async () => (await limiter.limit({ policyId: p.id, key, costTokens: 1 })).allowed,
        ),
      );
      if (limiter.counters.fallbacks > 0)
        console.warn(`${name}: ${limiter.counters.fallbacks} fallbacks (budget too small?)`);
      client.destroy();
    }

    const theirs: [string, number][] = [
      ['theirs: RateLimiterDynamo', 0],
      ['theirs: RateLimiterDynamo + inMemoryBlockOnConsumed', capacityTokens],
    ];
    for (const [i, [name, inMemoryBlockOnConsumed]] of theirs.entries()) {
      const client = new DynamoDB({
        region: REGION,
        endpoint: db.endpoint,
        credentials: LOCAL_CREDENTIALS,
        maxAttempts: 1,
      });
      const counter = countCalls(client);
      const limiter = new RateLimiterDynamo({
        storeClient: client,
        tableName: THEIR_TABLE,
        tableCreated: true,
        ttlSet: true,
        // A fixed window with the same long-run rate: capacity per (capacity / refill) seconds.
        points: capacityTokens,
        duration: capacityTokens / refillPerSecond,
        ...(inMemoryBlockOnConsumed > 0
          ? { inMemoryBlockOnConsumed, inMemoryBlockDuration: 1 }
          : {}),
      });
      const key = `hot-${i}`;
      await limiter.get('warm-up');
      summaries.push(
        await run(name, counter, async () => {
          try {
            await limiter.consume(key, 1);
            return true;
          } catch (error) {
            if (error instanceof RateLimiterRes) return false;
            throw error;
          }
        }),
      );
      client.destroy();
    }
  } finally {
    await db.stop();
  }

  console.log(
    `\nWorkload: one hot key, ${requestCount} requests at ${requestsPerSecond}/s (${rateFactor}x the refill of ${refillPerSecond}/s, capacity ${capacityTokens}), sequential, dynalite on loopback.\n`,
  );
  console.log(
    '| limiter | decisions | admitted | calls/decision | calls/admitted | calls/refused | p50 ms | p99 ms | admitted p50 ms | admitted p99 ms |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const s of summaries) {
    console.log(
      `| ${s.name} | ${s.decisions} | ${s.admitted} | ${s.callsPerDecision.toFixed(2)} | ${s.callsPerAdmitted.toFixed(2)} | ${s.callsPerRefused.toFixed(2)} | ${s.p50Ms.toFixed(2)} | ${s.p99Ms.toFixed(2)} | ${s.admittedP50Ms.toFixed(2)} | ${s.admittedP99Ms.toFixed(2)} |`,
    );
  }
  const ourDefault = summaries.find((s) => s.name.includes('(default)'));
  const theirDefault = summaries.find((s) => s.name === 'theirs: RateLimiterDynamo');
  if (ourDefault !== undefined && theirDefault !== undefined) {
    console.log(
      `\nours (default) / theirs (default): calls per decision ${(ourDefault.callsPerDecision / theirDefault.callsPerDecision).toFixed(2)}, ` +
        `p50 ${(ourDefault.p50Ms / theirDefault.p50Ms).toFixed(2)}, p99 ${(ourDefault.p99Ms / theirDefault.p99Ms).toFixed(2)}, ` +
        `admitted p50 ${(ourDefault.admittedP50Ms / theirDefault.admittedP50Ms).toFixed(2)}, admitted p99 ${(ourDefault.admittedP99Ms / theirDefault.admittedP99Ms).toFixed(2)}`,
    );
  }
}

await main();
