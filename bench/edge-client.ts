/**
 * The edge's DynamoDB client, today's against the light one, side by side in
 * one run: CPU time per admitted decision that calls the store, and the
 * viewer-request bundle's size and module load.
 *
 * CPU: the real `Limiter`, wired as the edge wires it (stores.ts
 * `bucketStoresFor`, the edge's transport options), once on the SDK client
 * (sdk-transport.ts, what the edge used before) and once on the light
 * transport (http-transport.ts, what it uses now), against one dynalite in a
 * child process (its CPU is not this process's). One hot key, every decision
 * admitted, the view cache and the blocked-until cache off, so that every
 * decision calls the store. Decisions run one at a time; this process's
 * `process.cpuUsage()` delta over a round of decisions, divided by the
 * decisions, is a round's figure. Rounds alternate between the two clients
 * (A B, B A, ...) so that the machine's drift falls on both alike; the
 * figures are the medians of the rounds and their ratio.
 *
 * At 128 MB a Lambda function has 128/1769 of a vCPU, so a CPU time `t`
 * measured on a full core becomes about `t × 1769/128` of latency at the
 * edge: the figure the report gives for each client.
 *
 * Module load: functions/edge/measure-bundle.ts, both bundles in one run.
 *
 * With `--floors`, two more contenders join the same interleaved rounds
 * (bench/edge-client-floors.ts): the same limiter on unsigned requests over
 * node:http, and over a bare socket. They are not clients; they say how low
 * any client on node:http could go, and what leaving it could buy.
 *
 * Run alone: `npx tsx bench/edge-client.ts [--quick] [--floors]`.
 */

import { resolveConfig } from '../functions/config/resolve';
import type { PolicyConfig } from '../functions/config/schema';
import {
  type EdgeBundleMeasurement,
  type EdgeTransport,
  measureEdgeBundles,
  median as medianOf,
} from '../functions/edge/measure-bundle';
import { Limiter } from '../functions/limiter/limiter';
import { createDynamoDbClient } from '../functions/store/client';
import { createHttpTransport } from '../functions/store/http-transport';
import { SdkTransport } from '../functions/store/sdk-transport';
import { bucketStoresFor } from '../functions/store/stores';
import type { DynamoDbTransport, TransportOptions } from '../functions/store/transport';
import projectConfig from '../limiter.config';
import { startDynaliteChild } from './dynalite-child';
import { FLOOR_NAMES, type FloorName, floorTransport } from './edge-client-floors';
import { BENCH_TABLE, benchConfig } from './harness';
import { FULL_SIZES, QUICK_SIZES } from './options';

/** Memory of a viewer-trigger Lambda@Edge function (MB). */
export const EDGE_VIEWER_MEMORY_MB = 128;
/** Memory at which a Lambda function has one full vCPU (MB). */
export const FULL_VCPU_MEMORY_MB = 1769;

/** Sizes of {@link measureEdgeClient}. */
export interface EdgeClientOptions {
  /** Measured rounds per client. */
  readonly rounds: number;
  readonly decisionsPerRound: number;
  /** Decisions per client before the first round (JIT, connections). */
  readonly warmupDecisions: number;
  /** Fresh processes per bundle for the module-load figures. */
  readonly moduleLoadRuns: number;
  /** Also measure the floors of bench/edge-client-floors.ts in the same rounds. @default false */
  readonly floors?: boolean;
}

/** What a round measured: one of the two clients, or a floor. */
export type Contestant = EdgeTransport | FloorName;

/** One measured round of one client. */
export interface EdgeClientRound {
  readonly transport: Contestant;
  readonly decisions: number;
  readonly admitted: number;
  /** This process's CPU time over the round (µs, user + system). */
  readonly cpuMicros: number;
  readonly wallMicros: number;
  /** Store calls the round made (counted at the transport). */
  readonly storeCalls: number;
  readonly fallbacks: number;
}

/** One client's figures. */
export interface EdgeClientVariant {
  readonly transport: EdgeTransport;
  /** CPU µs per decision of each round, in run order. */
  readonly cpuMicrosPerDecision: readonly number[];
  readonly medianCpuMicrosPerDecision: number;
  readonly medianWallMicrosPerDecision: number;
  readonly storeCallsPerDecision: number;
  /** Share of decisions admitted (1 unless something went wrong). */
  readonly admittedShare: number;
  readonly fallbacks: number;
  /** The median CPU time as latency at 128 MB (ms): × 1769/128. */
  readonly latencyAt128MbMs: number;
}

/** Size and module load of the viewer-request bundle on each client. */
export interface EdgeModuleLoad {
  readonly runs: number;
  readonly zippedBytes: Readonly<Record<EdgeTransport, number>>;
  readonly requireMsMedian: Readonly<Record<EdgeTransport, number>>;
  readonly initMsMedian: Readonly<Record<EdgeTransport, number>>;
  /** light / sdk. */
  readonly zippedRatio: number;
  /** light / sdk, of the medians. */
  readonly requireRatio: number;
}

/** One floor's figures, against the SDK client of the same rounds. */
export interface EdgeClientFloor {
  readonly name: FloorName;
  readonly medianCpuMicrosPerDecision: number;
  /** floor / sdk, of the median CPU per decision. */
  readonly ratioToSdk: number;
  readonly storeCallsPerDecision: number;
  readonly admittedShare: number;
}

/** What part "edge-client" measured. */
export interface EdgeClientResult {
  readonly rounds: number;
  readonly decisionsPerRound: number;
  readonly warmupDecisions: number;
  readonly variants: Readonly<Record<EdgeTransport, EdgeClientVariant>>;
  /** light / sdk, of the median CPU per decision. */
  readonly cpuRatio: number;
  /** Least and greatest light / sdk ratio of paired rounds (the i-th of each): the run's noise. */
  readonly cpuRatioRange: readonly [number, number];
  readonly moduleLoad: EdgeModuleLoad;
  /** Only when the floors were measured (`--floors`). */
  readonly floors?: readonly EdgeClientFloor[];
}

/** CPU time on a full core as latency at `memoryMb` (ms). */
export function latencyAtMemoryMs(cpuMicros: number, memoryMb = EDGE_VIEWER_MEMORY_MB): number {
  return ((cpuMicros / 1000) * FULL_VCPU_MEMORY_MB) / memoryMb;
}

/**
 * The figures of a set of rounds (pure: tested without running anything).
 *
 * @throws RangeError when a client has no round or a round no decision
 */
export function edgeClientFiguresOf(
  rounds: readonly EdgeClientRound[],
): Pick<EdgeClientResult, 'variants' | 'cpuRatio' | 'cpuRatioRange'> {
  const variantOf = (transport: EdgeTransport): EdgeClientVariant => {
    const own = rounds.filter((r) => r.transport === transport);
    if (own.length === 0) throw new RangeError(`no round of the ${transport} client`);
    if (own.some((r) => r.decisions <= 0)) throw new RangeError('a round without decisions');
    const cpu = own.map((r) => r.cpuMicros / r.decisions);
    const decisions = own.reduce((sum, r) => sum + r.decisions, 0);
    const medianCpu = medianOf(cpu);
    return {
      transport,
      cpuMicrosPerDecision: cpu,
      medianCpuMicrosPerDecision: medianCpu,
      medianWallMicrosPerDecision: medianOf(own.map((r) => r.wallMicros / r.decisions)),
      storeCallsPerDecision: own.reduce((sum, r) => sum + r.storeCalls, 0) / decisions,
      admittedShare: own.reduce((sum, r) => sum + r.admitted, 0) / decisions,
      fallbacks: own.reduce((sum, r) => sum + r.fallbacks, 0),
      latencyAt128MbMs: latencyAtMemoryMs(medianCpu),
    };
  };
  const variants = { sdk: variantOf('sdk'), light: variantOf('light') };
  const pairs = Math.min(
    variants.sdk.cpuMicrosPerDecision.length,
    variants.light.cpuMicrosPerDecision.length,
  );
  const paired = Array.from(
    { length: pairs },
    (_, i) => variants.light.cpuMicrosPerDecision[i]! / variants.sdk.cpuMicrosPerDecision[i]!,
  );
  return {
    variants,
    cpuRatio: variants.light.medianCpuMicrosPerDecision / variants.sdk.medianCpuMicrosPerDecision,
    cpuRatioRange: [Math.min(...paired), Math.max(...paired)],
  };
}

/**
 * The figures of each floor that has rounds, against the SDK client's median
 * of the same rounds (pure).
 *
 * @throws RangeError when there is no SDK round
 */
export function edgeClientFloorsOf(rounds: readonly EdgeClientRound[]): EdgeClientFloor[] {
  const sdk = rounds.filter((r) => r.transport === 'sdk');
  if (sdk.length === 0) throw new RangeError('no round of the sdk client');
  const sdkMedian = medianOf(sdk.map((r) => r.cpuMicros / r.decisions));
  return FLOOR_NAMES.flatMap((name) => {
    const own = rounds.filter((r) => r.transport === name && r.decisions > 0);
    if (own.length === 0) return [];
    const decisions = own.reduce((sum, r) => sum + r.decisions, 0);
    const median = medianOf(own.map((r) => r.cpuMicros / r.decisions));
    return [
      {
        name,
        medianCpuMicrosPerDecision: median,
        ratioToSdk: median / sdkMedian,
        storeCallsPerDecision: own.reduce((sum, r) => sum + r.storeCalls, 0) / decisions,
        admittedShare: own.reduce((sum, r) => sum + r.admitted, 0) / decisions,
      },
    ];
  });
}

/** The module-load figures of a bundle measurement. */
export function moduleLoadOf(m: EdgeBundleMeasurement, runs: number): EdgeModuleLoad {
  const viewerRequest = m.sizes.find((s) => s.name === 'edge');
  if (viewerRequest === undefined) throw new RangeError('no viewer-request bundle measured');
  const zipped = (s: typeof viewerRequest) => s.zipBytes ?? s.deflatedBytes;
  const zippedBytes = { light: zipped(viewerRequest), sdk: zipped(m.sdkSize) };
  const requireMsMedian = {
    light: medianOf(m.coldStart.light.requireMs),
    sdk: medianOf(m.coldStart.sdk.requireMs),
  };
  return {
    runs,
    zippedBytes,
    requireMsMedian,
    initMsMedian: {
      light: medianOf(m.coldStart.light.initMs),
      sdk: medianOf(m.coldStart.sdk.initMs),
    },
    zippedRatio: zippedBytes.light / zippedBytes.sdk,
    requireRatio: requireMsMedian.light / requireMsMedian.sdk,
  };
}

/** Counts the calls that reach a transport. */
function counted(transport: DynamoDbTransport, counter: { calls: number }): DynamoDbTransport {
  return {
    getItem: (request, options) => {
      counter.calls += 1;
      return transport.getItem(request, options);
    },
    query: (request, options) => {
      counter.calls += 1;
      return transport.query(request, options);
    },
    updateItem: (request, options) => {
      counter.calls += 1;
      return transport.updateItem(request, options);
    },
  };
}

const REGION = 'us-east-1';
const POLICY: PolicyConfig = {
  id: 'edge-client',
  // Far more than the run takes: every decision is admitted and writes.
  capacityTokens: 1_000_000,
  refillTokens: 1_000_000,
  onStoreError: 'closed',
  // No lease: every decision must call the store (a lease would serve most from memory).
  lease: false,
};

/** A container of one client: its limiter, its call counter, how to close it. */
interface Contender {
  readonly transport: Contestant;
  readonly limiter: Limiter;
  readonly counter: { calls: number };
  close(): void;
}

function contender(transport: Contestant, endpoint: string): Contender {
  const config = resolveConfig(benchConfig([REGION], [POLICY]));
  const counter = { calls: 0 };
  const closers: (() => void)[] = [];
  const transportOf = (options: TransportOptions): DynamoDbTransport => {
    if (transport === 'light') {
      const light = createHttpTransport(options);
      closers.push(() => light.destroy());
      return counted(light, counter);
    }
    if (transport !== 'sdk') {
      const floor = floorTransport(transport, endpoint);
      closers.push(() => floor.close());
      return counted(floor.transport, counter);
    }
    const client = createDynamoDbClient(options);
    closers.push(() => client.destroy());
    return counted(new SdkTransport(client), counter);
  };
  // The edge's composition: the same store wiring and transport options, only the transport differs.
  const stores = bucketStoresFor(config, REGION, transportOf, {
    endpointOf: () => endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const limiter = new Limiter({
    config,
    region: stores.replica,
    store: stores.store,
    viewCacheMs: 0,
    blockedCache: false,
    // A saturated shared machine must not turn decisions into (cheaper) fallbacks.
    storeBudgetMs: 2000,
  });
  return {
    transport,
    limiter,
    counter,
    close: () => {
      for (const close of closers) close();
    },
  };
}

async function decideMany(c: Contender, decisions: number): Promise<number> {
  let admitted = 0;
  for (let i = 0; i < decisions; i++) {
    const result = await c.limiter.limit({ policyId: POLICY.id, key: 'hot', costTokens: 1 });
    if (result.allowed) admitted += 1;
  }
  return admitted;
}

async function round(c: Contender, decisions: number): Promise<EdgeClientRound> {
  const callsBefore = c.counter.calls;
  const fallbacksBefore = c.limiter.counters.fallbacks;
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  const admitted = await decideMany(c, decisions);
  const cpu = process.cpuUsage(cpuStart);
  const wallMicros = (performance.now() - wallStart) * 1000;
  return {
    transport: c.transport,
    decisions,
    admitted,
    cpuMicros: cpu.user + cpu.system,
    wallMicros,
    storeCalls: c.counter.calls - callsBefore,
    fallbacks: c.limiter.counters.fallbacks - fallbacksBefore,
  };
}

/** Measures both clients, interleaved, and the bundles; see the module comment. */
export async function measureEdgeClient(options: EdgeClientOptions): Promise<EdgeClientResult> {
  const db = await startDynaliteChild(BENCH_TABLE);
  const contenders: Contender[] = [];
  const rounds: EdgeClientRound[] = [];
  try {
    contenders.push(contender('sdk', db.endpoint), contender('light', db.endpoint));
    if (options.floors === true) {
      for (const name of FLOOR_NAMES) contenders.push(contender(name, db.endpoint));
    }
    for (const c of contenders) await decideMany(c, options.warmupDecisions);
    for (let i = 0; i < options.rounds; i++) {
      const order = i % 2 === 0 ? contenders : [...contenders].reverse();
      for (const c of order) rounds.push(await round(c, options.decisionsPerRound));
    }
  } finally {
    for (const c of contenders) c.close();
    await db.stop();
  }
  const bundles = await measureEdgeBundles(projectConfig, options.moduleLoadRuns);
  return {
    rounds: options.rounds,
    decisionsPerRound: options.decisionsPerRound,
    warmupDecisions: options.warmupDecisions,
    ...edgeClientFiguresOf(rounds),
    moduleLoad: moduleLoadOf(bundles, options.moduleLoadRuns),
    ...(options.floors === true ? { floors: edgeClientFloorsOf(rounds) } : {}),
  };
}

/** The result as a few lines of text (the CLI's output). */
export function describeEdgeClient(r: EdgeClientResult): string {
  const f = (x: number, digits = 1) => x.toFixed(digits);
  const lines = [
    `CPU per admitted decision that calls the store: ${r.rounds} interleaved rounds of ${r.decisionsPerRound} decisions per client (after ${r.warmupDecisions} warm-up decisions), dynalite in a child process`,
  ];
  for (const v of [r.variants.sdk, r.variants.light]) {
    lines.push(
      `  ${v.transport === 'sdk' ? "today's SDK client" : 'light transport   '}  median ${f(v.medianCpuMicrosPerDecision)} µs CPU (rounds ${v.cpuMicrosPerDecision.map((x) => f(x, 0)).join(', ')}), ${f(v.storeCallsPerDecision, 2)} store calls/decision, wall ${f(v.medianWallMicrosPerDecision, 0)} µs, at 128 MB +${f(v.latencyAt128MbMs, 2)} ms, admitted ${f(100 * v.admittedShare, 1)} %, fallbacks ${v.fallbacks}`,
    );
  }
  for (const floor of r.floors ?? []) {
    lines.push(
      `  floor ${floor.name.padEnd(18)}  median ${f(floor.medianCpuMicrosPerDecision)} µs CPU, ${f(floor.storeCallsPerDecision, 2)} store calls/decision, admitted ${f(100 * floor.admittedShare, 1)} %: ×${f(floor.ratioToSdk, 2)} of the SDK client`,
    );
  }
  const m = r.moduleLoad;
  lines.push(
    `  light / SDK: CPU ×${f(r.cpuRatio, 2)}`,
    `viewer-request bundle, ${m.runs} fresh processes each, interleaved: zipped ${f(m.zippedBytes.sdk / 1024)} KB → ${f(m.zippedBytes.light / 1024)} KB (×${f(m.zippedRatio, 2)}), require median ${f(m.requireMsMedian.sdk)} ms → ${f(m.requireMsMedian.light)} ms (×${f(m.requireRatio, 2)}), container init median ${f(m.initMsMedian.sdk)} ms → ${f(m.initMsMedian.light)} ms`,
  );
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('edge-client.ts')) {
  const sizes = process.argv.includes('--quick') ? QUICK_SIZES : FULL_SIZES;
  measureEdgeClient({ ...sizes.edgeClient, floors: process.argv.includes('--floors') })
    .then((r) => {
      console.log(describeEdgeClient(r));
      process.exit(0);
    })
    .catch((error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : error);
      process.exit(1);
    });
}
