/**
 * The whole system on one machine, as a library: {@link startLocal} starts the
 * emulated regions (dynalite per region, global-table replication with lag),
 * the echo origin, per region the edge (the bundled Lambda@Edge handler
 * behind a CloudFront-like endpoint) and the regional API (the bundled API
 * handler behind a function URL), the reconciler on a timer, and the admin
 * endpoint. With the network model ({@link LocalOptions.realistic}), edge
 * regions that hold no replica run too, and every edge reaches its replica
 * through a delaying proxy (local/network.ts). `npm start`, the end-to-end tests and the benchmarks all use it,
 * so what the tests prove is what the demo shows.
 *
 * Everything binds loopback. Start-up is all or nothing: if any part fails
 * (a port in use, a bundle that does not build), what was started is stopped
 * and the error is rethrown.
 */

import { bucketPolicyOf, type LimiterConfig, type PolicyConfig } from '../functions/config/schema';
import type { ReconcilerOptions } from '../functions/reconciler/reconcile';
import type { ReconcilerStatus } from '../functions/shared/replication-status';
import { DynamoDbReplicationStore } from '../functions/store/dynamodb-replication-store';
import { bucketTableDefinition } from '../functions/store/table';
import type { BuiltFunction } from '../scripts/build-functions';
import { type AdminServer, startAdminServer } from './admin';
import { type ApiServer, startApiServer } from './api-server';
import { checkConfig } from './config-file';
import { type EchoOrigin, startEchoOrigin } from './echo-origin';
import { type EdgeServer, startEdgeServer } from './edge-server';
import { type DownMode, RegionEmulator } from './emulator';
import {
  buildBundles,
  buildEdgeBundle,
  countFallbacks,
  type LoadedRegion,
  loadEdgeFunctions,
  loadRegionFunctions,
  type Reconciler,
} from './functions';
import { assertPortsFree } from './http-util';
import {
  type EdgeRoute,
  edgeOnlyRegions,
  modelledLag,
  startEdgeRoutes,
  worstOneWayMs,
} from './network';
import { DYNAMODB_PARTITION_LIMITS, type PartitionLimits } from './partition-throughput';
import { planPorts } from './ports';
import {
  type EdgeCounters,
  type EdgeRegionSnapshot,
  emptyCounters,
  type RegionSnapshot,
  type StatusSnapshot,
  watchedLevels,
} from './status';

/** Options of {@link startLocal}. */
export interface LocalOptions {
  /** Tests only: the request header the local edges take the viewer's address from (see startEdgeServer). */
  readonly viewerIpHeader?: string;
  /** The config (validated here); its regions unless {@link LocalOptions.regions} is given. */
  readonly config: LimiterConfig;
  /** Regions to run instead of the config's. */
  readonly regions?: readonly string[];
  /** Replication lag per link (ms). @default 200 */
  readonly lagMs?: number;
  /** Uniform jitter added to each delivery (ms). @default 0 */
  readonly jitterMs?: number;
  /** Seed of the replication jitter. @default 1 */
  readonly seed?: number;
  /**
   * Per-partition throughput every emulated replica enforces, or `false` for
   * none (dynalite's own behaviour). @default DYNAMODB_PARTITION_LIMITS
   */
  readonly partitionLimits?: PartitionLimits | false;
  /**
   * Run the network model: every edge region's store calls wait the round
   * trip to its replica (sim/network/model.ts, seeded by {@link LocalOptions.seed}),
   * and each replication link adds its one-way delay to the lag. Implied by
   * {@link LocalOptions.edgeRegions}. @default false
   */
  readonly realistic?: boolean;
  /**
   * Edge regions to run besides the regions' own, each talking to its
   * nearest replica (with the model on; default then: every regional edge
   * cache region).
   */
  readonly edgeRegions?: readonly string[];
  /** Base port ({@link planPorts}); 0 picks free ports. @default 0 */
  readonly basePort?: number;
  /** Proxy allowed requests here instead of starting the echo origin. */
  readonly originUrl?: string;
  /** Reconciler period per region (ms); 0 runs it only on demand. @default 5000 */
  readonly reconcileEveryMs?: number;
  /** Extra buckets for the reconciler to watch (added to the policies' `watchKeys`). */
  readonly watch?: readonly { readonly policy: string; readonly key: string }[];
  /** Where the runtime reports problems (handler failures, reconciler errors). @default silent */
  readonly log?: (line: string) => void;
  /**
   * Let the bundled handlers print their CloudWatch metrics (EMF JSON) to
   * stdout, as they do in Lambda. Off by default: one document per request
   * drowns a terminal. Ignored when POWERTOOLS_METRICS_DISABLED is already set.
   * @default false
   */
  readonly printMetrics?: boolean;
}

/** A running local system. */
export interface LocalHandle {
  /** The config the runtime runs (regions and watches applied). */
  readonly config: LimiterConfig;
  readonly regions: readonly string[];
  /** Every edge region served: the regions first, then the edge-only ones. */
  readonly edgeRegions: readonly string[];
  /** With the network model: how each edge region reaches its replica. */
  readonly routes: readonly EdgeRoute[];
  /** Seed of the replication jitter and the model's delays. */
  readonly seed: number;
  readonly adminUrl: string;
  /** The origin allowed requests go to (the echo origin unless one was given). */
  readonly originUrl: string;
  /** Edge region → edge URL (send viewer requests here). */
  readonly edgeUrls: Readonly<Record<string, string>>;
  /** Region → regional API URL. */
  readonly apiUrls: Readonly<Record<string, string>>;
  /** Region → DynamoDB endpoint (the replicating proxy). */
  readonly storeEndpoints: Readonly<Record<string, string>>;
  /** The emulated regions (cut, heal, setDown, settle, clients). */
  readonly emulator: RegionEmulator;
  /** Requests the echo origin answered (undefined with an external origin). */
  originRequests(): number | undefined;
  /** Edge counters of a region (live object). */
  counters(region: string): EdgeCounters;
  cut(a: string, b: string): void;
  heal(a: string, b: string): void;
  setDown(region: string, down: boolean, mode?: DownMode): void;
  setLag(lagMs: number): void;
  /** Runs one reconciler pass in every region now and waits for all of them. */
  reconcileNow(): Promise<void>;
  /** The current status (reads every region's reconciler status item). */
  status(): Promise<StatusSnapshot>;
  /** Stops everything; idempotent. */
  stop(): Promise<void>;
}

/** Default replication lag of the local runtime (ms). */
export const DEFAULT_LOCAL_LAG_MS = 200;

/** Default reconciler period of the local runtime (ms): fast enough to watch, slow enough to read. */
export const DEFAULT_RECONCILE_EVERY_MS = 5000;

/** Starts the whole system on loopback. */
export async function startLocal(options: LocalOptions): Promise<LocalHandle> {
  const config = checkConfig(localConfig(options), 'config');
  const regions = config.regions;
  const realistic = options.realistic === true || options.edgeRegions !== undefined;
  const edgeOnly = realistic ? edgeOnlyRegions(regions, options.edgeRegions) : [];
  const edgeRegions = [...regions, ...edgeOnly];
  const ports = planPorts(options.basePort ?? 0, regions.length, edgeOnly.length);
  const log = options.log ?? (() => undefined);
  let lagMs = options.lagMs ?? DEFAULT_LOCAL_LAG_MS;
  const jitterMs = options.jitterMs ?? 0;
  const reconcileEveryMs = options.reconcileEveryMs ?? DEFAULT_RECONCILE_EVERY_MS;
  const seed = options.seed ?? 1;
  const lagSpec = (ms: number) => (realistic ? modelledLag(ms) : ms);
  // What the reconciler waits for: the configured lag, its jitter and, with the model, the farthest link.
  const worstLagMs = () => lagMs + jitterMs + (realistic ? Math.ceil(worstOneWayMs(regions)) : 0);
  const edgePorts = [...ports.regions, ...ports.edgeOnly];

  await assertPortsFree([
    { port: ports.admin, role: 'admin' },
    ...(options.originUrl === undefined ? [{ port: ports.origin, role: 'echo origin' }] : []),
    ...ports.regions.flatMap((p, i) => [
      { port: p.edge, role: `edge ${regions[i]}` },
      { port: p.api, role: `API ${regions[i]}` },
      { port: p.store, role: `DynamoDB ${regions[i]}` },
    ]),
    ...ports.edgeOnly.map((p, j) => ({ port: p.edge, role: `edge ${edgeOnly[j]}` })),
    ...(realistic
      ? edgePorts.map((p, k) => ({ port: p.proxy, role: `store proxy of ${edgeRegions[k]}` }))
      : []),
  ]);
  const stops: (() => Promise<void>)[] = [];
  stops.push(
    setEnvDefaults({
      // Powertools reads it when a handler creates its metrics, i.e. during invocations.
      POWERTOOLS_METRICS_DISABLED: options.printMetrics === true ? 'false' : 'true',
      // Every bundle instance would print the SDK's Node 22 notice; it says nothing about a local run.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    }),
  );
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      await stop().catch((error: unknown) => log(`stop: ${String(error)}`));
    }
  };

  try {
    const emulator = await RegionEmulator.start({
      regions,
      lagMs: lagSpec(lagMs),
      jitterMs,
      seed,
      ports: ports.regions.map((p) => p.store),
      ...(options.partitionLimits === false
        ? {}
        : { partitionLimits: options.partitionLimits ?? DYNAMODB_PARTITION_LIMITS }),
    });
    stops.push(() => emulator.stop());
    await emulator.createTable(bucketTableDefinition(config.tableName));
    if (config.strong !== undefined) {
      await emulator.createTable(bucketTableDefinition(config.strong.tableName));
    }
    const storeEndpoints = Object.fromEntries(regions.map((r) => [r, emulator.endpoint(r)]));

    let origin: EchoOrigin | undefined;
    if (options.originUrl === undefined) {
      origin = await startEchoOrigin(ports.origin);
      stops.push(() => (origin as EchoOrigin).stop());
    }
    const originUrl = options.originUrl ?? (origin as EchoOrigin).url;

    const counters = new Map<string, EdgeCounters>(edgeRegions.map((r) => [r, emptyCounters()]));
    const routes = realistic
      ? await startEdgeRoutes({
          config,
          edgeRegions,
          storeEndpoints,
          ports: edgePorts,
          seed,
          onStarted: (proxy) => stops.push(() => proxy.stop()),
        })
      : [];
    const [bundles, edgeBundles] = await Promise.all([
      buildBundles(config, storeEndpoints),
      Promise.all(routes.map((route) => buildEdgeBundle(config, route.endpoints))),
    ]);
    const edgeBundleOf = new Map<string, BuiltFunction>(
      routes.map((route, k) => [route.edgeRegion, edgeBundles[k] as BuiltFunction]),
    );
    const edgeFunctionsOf = (region: string) => {
      const own = edgeBundleOf.get(region);
      return own === undefined ? undefined : loadEdgeFunctions({ ...bundles, edge: own }, region);
    };
    const loaded = new Map<string, LoadedRegion>();
    for (const region of regions) {
      const fns = loadRegionFunctions(bundles, {
        config,
        region,
        storeEndpoints,
        log,
        reconcilerOptions: () => localReconcilerOptions(worstLagMs()),
      });
      const edge = edgeFunctionsOf(region);
      loaded.set(region, edge === undefined ? fns : { ...fns, edge });
    }

    const edges = new Map<string, EdgeServer>();
    const apis = new Map<string, ApiServer>();
    for (const [i, region] of regions.entries()) {
      const fns = loaded.get(region) as LoadedRegion;
      const regionPorts = ports.regions[i] as (typeof ports.regions)[number];
      const edge = await startEdgeServer({
        region,
        port: regionPorts.edge,
        functions: fns.edge,
        originUrl,
        counters: counters.get(region) as EdgeCounters,
        log,
        onOutcome: (outcome) => fns.observe?.(outcome, counters.get(region) as EdgeCounters),
        ...(options.viewerIpHeader === undefined ? {} : { viewerIpHeader: options.viewerIpHeader }),
      });
      stops.push(() => edge.stop());
      edges.set(region, edge);
      const api = await startApiServer({
        region,
        port: regionPorts.api,
        handler: fns.api,
        log,
      });
      stops.push(() => api.stop());
      apis.set(region, api);
    }

    for (const [j, region] of edgeOnly.entries()) {
      const edge = await startEdgeServer({
        region,
        port: (ports.edgeOnly[j] as (typeof ports.edgeOnly)[number]).edge,
        functions: edgeFunctionsOf(region) as NonNullable<ReturnType<typeof edgeFunctionsOf>>,
        originUrl,
        counters: counters.get(region) as EdgeCounters,
        log,
        onOutcome: (outcome) => countFallbacks(outcome, counters.get(region) as EdgeCounters),
        ...(options.viewerIpHeader === undefined ? {} : { viewerIpHeader: options.viewerIpHeader }),
      });
      stops.push(() => edge.stop());
      edges.set(region, edge);
    }

    const reconcilers = new ReconcilerLoop(
      regions.map((r) => [r, (loaded.get(r) as LoadedRegion).reconciler] as const),
      log,
    );
    stops.push(() => reconcilers.stop());
    if (reconcileEveryMs > 0) reconcilers.start(reconcileEveryMs);

    const watched = watchedOf(config);
    const status = async (): Promise<StatusSnapshot> => {
      const regionSnapshots: RegionSnapshot[] = await Promise.all(
        regions.map(async (region) => {
          let reconciler: ReconcilerStatus | null = null;
          let readError: string | null = null;
          try {
            // The direct client: the status stays readable while the region is down.
            const replica = new DynamoDbReplicationStore({
              client: emulator.directClient(region),
              tableName: config.tableName,
            });
            reconciler = (await replica.readStatus(region)) ?? null;
          } catch (error) {
            readError = `status unreadable: ${String(error)}`;
          }
          return {
            region,
            edgeUrl: (edges.get(region) as EdgeServer).url,
            apiUrl: (apis.get(region) as ApiServer).url,
            storeEndpoint: storeEndpoints[region] as string,
            storeDown: emulator.downMode(region) ?? null,
            edge: { ...(counters.get(region) as EdgeCounters) },
            reconciler,
            reconcilerError: reconcilers.lastError(region) ?? readError,
            reconcilerRuns: reconcilers.runs(region),
            lagResolutionMs: reconcilers.lagResolutionMs(region),
          };
        }),
      );
      const edgeSnapshots: EdgeRegionSnapshot[] = routes.map((route) => {
        const stats = route.proxy.stats();
        return {
          region: route.edgeRegion,
          edgeUrl: (edges.get(route.edgeRegion) as EdgeServer).url,
          replica: route.replica,
          storeMedianMs: route.link.medianMs,
          storeP99Ms: route.link.p99Ms,
          estimated: route.link.estimated,
          storeCalls: stats.requests,
          meanDelayMs: stats.requests === 0 ? null : stats.totalDelayMs / stats.requests,
          edge: { ...(counters.get(route.edgeRegion) as EdgeCounters) },
        };
      });
      return {
        atMs: Date.now(),
        lagMs,
        jitterMs,
        reconcileEveryMs,
        adminUrl: admin.url,
        originUrl,
        regions: regionSnapshots,
        links: emulator.linkStats(),
        watched: watchedLevels(watched, regionSnapshots),
        ...(realistic ? { edges: edgeSnapshots } : {}),
      };
    };

    const controls = {
      regions,
      cut: (a: string, b: string) => emulator.cut(a, b),
      heal: (a: string, b: string) => emulator.heal(a, b),
      setDown: (region: string, down: boolean, mode: DownMode = 'error') =>
        emulator.setDown(region, down, mode),
      setLag: (ms: number) => {
        lagMs = ms;
        emulator.setLag(lagSpec(ms));
      },
      reconcileNow: () => reconcilers.runAll(),
      status,
    };
    const admin: AdminServer = await startAdminServer(ports.admin, controls);
    stops.push(() => admin.stop());

    let stopped: Promise<void> | undefined;
    return {
      config,
      edgeRegions,
      routes,
      seed,
      adminUrl: admin.url,
      originUrl,
      edgeUrls: Object.fromEntries(edgeRegions.map((r) => [r, (edges.get(r) as EdgeServer).url])),
      apiUrls: Object.fromEntries(regions.map((r) => [r, (apis.get(r) as ApiServer).url])),
      storeEndpoints,
      emulator,
      originRequests: () => origin?.requests(),
      counters: (region) => {
        const c = counters.get(region);
        if (c === undefined) throw new RangeError(`unknown region "${region}"`);
        return c;
      },
      ...controls,
      stop: () => {
        stopped ??= stopAll();
        return stopped;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The config with the runtime's overrides applied: regions and extra watched keys. */
export function localConfig(
  options: Pick<LocalOptions, 'config' | 'regions' | 'watch'>,
): LimiterConfig {
  const extra = options.watch ?? [];
  const regions = options.regions === undefined ? {} : { regions: [...options.regions] };
  // A config of the wrong shape is left for checkConfig to report in full.
  if (!Array.isArray(options.config.policies)) return { ...options.config, ...regions };
  const policies = options.config.policies.map((p): PolicyConfig => {
    const keys = extra.filter((w) => w.policy === p.id).map((w) => w.key);
    if (keys.length === 0) return p;
    return { ...p, watchKeys: [...new Set([...(p.watchKeys ?? []), ...keys])] };
  });
  const unknown = extra.filter((w) => !options.config.policies.some((p) => p.id === w.policy));
  if (unknown.length > 0) {
    throw new RangeError(
      `--watch names unknown polic${unknown.length === 1 ? 'y' : 'ies'}: ${unknown
        .map((w) => w.policy)
        .join(', ')}`,
    );
  }
  return { ...options.config, ...regions, policies };
}

/**
 * Reconciler tuning for local runs, from the worst lag a link is configured
 * with (lag + jitter):
 * - wait for a heartbeat four times that plus a second (at least 2 s),
 *   instead of the alarm threshold (5 s by default): a cut link is reported
 *   within seconds, while a busy machine (nine regions, bundles loading,
 *   the first calls of every client) still gets its heartbeats through;
 * - poll for it every tenth of that lag (10 to 250 ms) instead of backing off
 *   from 25 to 250 ms: a loopback read costs little, and the estimate is the
 *   middle of one poll interval, so the sync lag shown is within a few ms
 *   of the emulated one instead of up to ±60 ms off.
 * Bounded by the run's default budget.
 */
export function localReconcilerOptions(worstLagMs: number): ReconcilerOptions {
  const pollMs = Math.round(Math.min(250, Math.max(10, worstLagMs / 10)));
  return {
    probeWaitMs: Math.min(20_000, Math.max(2000, 4 * worstLagMs + 1000)),
    firstPollIntervalMs: pollMs,
    maxPollIntervalMs: pollMs,
  };
}

/**
 * When region `i` of `count` runs its first reconciler pass (ms after start):
 * the passes are spread evenly over one period, the first one at once.
 */
export function staggerMs(i: number, count: number, everyMs: number): number {
  return Math.round((i * everyMs) / count);
}

/**
 * Sets environment variables that are not set yet (the user's choice wins)
 * and returns what puts them back on stop, so that a test process running
 * other suites after this one sees its own environment again.
 */
function setEnvDefaults(defaults: Readonly<Record<string, string>>): () => Promise<void> {
  const added = Object.keys(defaults).filter((k) => process.env[k] === undefined);
  for (const k of added) process.env[k] = defaults[k];
  return async () => {
    for (const k of added) delete process.env[k];
  };
}

function watchedOf(config: LimiterConfig) {
  return config.policies.flatMap((p) =>
    (p.watchKeys ?? []).map((key) => ({
      policy: p.id,
      key,
      capacityTokens: bucketPolicyOf(p).capacityTokens,
    })),
  );
}

/**
 * Runs each region's reconciler every period, never two passes of one region
 * at once (a slow pass delays the next one, as a scheduled Lambda with
 * reserved concurrency 1 would). The regions' schedules are spread over the
 * period, as independent schedules in real regions are: N regions probing at
 * the same instant on one machine would measure the machine, not the lag.
 */
class ReconcilerLoop {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Map<string, Promise<void>>();
  private readonly errors = new Map<string, string>();
  private readonly runCounts = new Map<string, number>();
  private stopped = false;

  constructor(
    private readonly reconcilers: readonly (readonly [string, Reconciler])[],
    private readonly log: (line: string) => void,
  ) {}

  /** Region i (of N) runs a first pass `i·everyMs/N` from now, then one every `everyMs`. */
  start(everyMs: number): void {
    for (const [i, [region, reconciler]] of this.reconcilers.entries()) {
      const run = () => {
        this.runOne(region, reconciler).catch(() => undefined);
      };
      const first = setTimeout(
        () => {
          run();
          const every = setInterval(run, everyMs);
          every.unref();
          this.timers.push(every);
        },
        staggerMs(i, this.reconcilers.length, everyMs),
      );
      first.unref();
      this.timers.push(first);
    }
  }

  /** One pass per region, concurrently; a region whose pass is still running is joined, not restarted. */
  async runAll(): Promise<void> {
    await Promise.all(
      this.reconcilers.map(([region, reconciler]) => this.runOne(region, reconciler)),
    );
  }

  lastError(region: string): string | null {
    return this.errors.get(region) ?? null;
  }

  runs(region: string): number {
    return this.runCounts.get(region) ?? 0;
  }

  lagResolutionMs(region: string): Readonly<Record<string, number>> {
    return this.reconcilers.find(([r]) => r === region)?.[1].lagResolutionMs() ?? {};
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.splice(0)) clearTimeout(timer);
    for (const [, reconciler] of this.reconcilers) reconciler.abort();
    await Promise.allSettled(this.running.values());
  }

  private runOne(region: string, reconciler: Reconciler): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const current = this.running.get(region);
    if (current !== undefined) return current;
    const pass = reconciler
      .run()
      .then(
        () => {
          this.errors.delete(region);
        },
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          if (this.stopped) return;
          if (this.errors.get(region) !== message) this.log(`reconciler ${region}: ${message}`);
          this.errors.set(region, message);
        },
      )
      .finally(() => {
        this.runCounts.set(region, (this.runCounts.get(region) ?? 0) + 1);
        this.running.delete(region);
      });
    this.running.set(region, pass);
    return pass;
  }
}
