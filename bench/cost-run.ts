/**
 * The cost part: what a million admitted requests cost, measured through the
 * edge as deployed and priced by bench/cost-model.ts.
 *
 * How each input is measured:
 * - the edge containers are the deployed composition
 *   (functions/edge/handler.ts `composeEdgeContainer`), one per region, and
 *   the viewer-response handler runs on every forwarded request when the
 *   variant deploys it; time is virtual (the limiter, its leases and the
 *   metrics sink read one simulated clock), so a run of minutes of traffic
 *   takes seconds and its counts do not depend on this machine;
 * - store traffic is counted by proxies in front of emulated regions
 *   replicating like a global table, in a child process (bench/store-child.ts);
 * - log bytes are what the handlers write to stdout and stderr during their
 *   invocations, captured (EMF documents, any log line), from a metrics flush
 *   to a metrics flush so the window holds whole flush intervals; Lambda's
 *   own records follow the config's `edgeSystemLogLevel` (cost-model.ts
 *   `platformLogsAt`);
 * - duration: each invocation's CPU time (`process.cpuUsage()`, this process
 *   only: the store runs elsewhere) scaled to a 128 MB function's CPU share,
 *   plus one replica round trip per store call that finished during the
 *   invocation (an upper bound when calls run in the background), rounded up
 *   to the billing granularity (cost-model.ts `billedDurationMs`).
 *
 * Fixed monthly costs (metric series, alarms, dashboards) are counted from
 * the config and the app it builds (bench/cost-fixed.ts).
 */

import { randomUUID } from 'node:crypto';
import type { CloudFrontRequest, CloudFrontResponse } from 'aws-lambda';
import { resolveConfig } from '../functions/config/resolve';
import type { LimiterConfig, PolicyConfig } from '../functions/config/schema';
import { composeEdgeContainer, type EdgeContainer } from '../functions/edge/handler';
import { responseHandler } from '../functions/edge/response-handler';
import { ORIGIN_HEADERS } from '../functions/edge/responses';
import { EDGE_MEMORY_MB, edgeFunctionRoles, edgeSystemLogLevel } from '../infra/defaults';
import { buildLimiterApp } from '../infra/limiter-app';
import projectConfig from '../limiter.config';
import { classifyViewerRequestResult, viewerResponseEvent } from '../local/cloudfront';
import { metricSeriesOf, watchCountOf } from './cost-fixed';
import {
  billedDurationMs,
  type CostRun,
  costPerMillionAdmitted,
  cpuSlowdownAt,
  DEFAULT_COST_PRICES,
  type DurationModel,
  type EdgeFunctionUsage,
  type FixedMonthly,
} from './cost-model';
import {
  COST_VARIANTS,
  COST_WORKLOADS,
  type CostCase,
  type CostResult,
  type CostSizes,
  type CostVariant,
  type CostWorkload,
} from './cost-variants';
import { billedTraffic, diffCounts } from './counting-proxy';
import { BENCH_REGIONS } from './decision-cost';
import { BENCH_TABLE, viewerRequestEvent } from './harness';
import { startStoreChild } from './store-child';

/** The policy the workloads charge, and the rule that reaches it. */
const POLICY_ID = 'api';
const REQUEST_PATH = '/api/items';

/** Round trip to the nearest replica the duration model charges per store call (ms). */
export const COST_STORE_ROUND_TRIP_MS = 10;
/** Admitted requests per month the fixed costs are spread over. */
export const COST_ADMITTED_PER_MONTH = 1e9;

/** Runs every variant and prices it. */
export async function measureCost(sizes: CostSizes): Promise<CostResult> {
  // The SDK's notice about Node 20 is no output of the deployed functions (they run Node 22).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const regions = BENCH_REGIONS.slice(0, 3);
  const duration: DurationModel = {
    cpuSlowdown: cpuSlowdownAt(EDGE_MEMORY_MB),
    storeRoundTripMs: COST_STORE_ROUND_TRIP_MS,
    granularityMs: DEFAULT_COST_PRICES.lambdaEdgeDuration.granularityMs,
  };
  const series = metricSeriesOf(projectConfig);
  const watch = watchCountOf(buildLimiterApp(projectConfig, { nag: false }));
  const fixed: FixedMonthly = {
    metricSeries: series.total,
    alarmMetrics: watch.alarmMetrics,
    dashboards: watch.dashboards,
    admittedPerMonth: COST_ADMITTED_PER_MONTH,
  };
  const store = await startStoreChild(regions, BENCH_TABLE);
  const cases: CostCase[] = [];
  // Each case starts an hour after the one before on its clock: the shared buckets (the
  // client IP's, the global cap) are full again, and no case's clock runs behind items an
  // earlier case wrote (a clock behind a checkpoint reads it as written in the future).
  const firstStartMs = Math.ceil(Date.now() / 60_000) * 60_000;
  try {
    for (const variant of COST_VARIANTS) {
      if (sizes.variants !== undefined && !sizes.variants.includes(variant.id)) continue;
      const startMs = firstStartMs + cases.length * CASE_SPACING_MS;
      cases.push(await runCostCase(store, regions, variant, sizes, duration, fixed, startMs));
    }
  } finally {
    await store.stop();
  }
  return { regions, sizes, duration, fixed, series, watch, cases };
}

/** Virtual time between the starts of two cases (ms): far more than a case runs. */
const CASE_SPACING_MS = 3_600_000;

/**
 * The project's config on the bench regions and table, leases, client
 * headers and edge system log level as the variant says (as shipped where it
 * says nothing).
 */
export function costConfig(regions: readonly string[], variant: CostVariant): LimiterConfig {
  const policies: PolicyConfig[] = projectConfig.policies.map((p) => {
    if (variant.leases === 'config') return p;
    // `false`, not absent: an absent lease is the default one.
    return { ...p, lease: false };
  });
  return {
    ...projectConfig,
    regions,
    tableName: BENCH_TABLE,
    policies,
    ...(variant.clientHeaders === undefined ? {} : { clientHeaders: variant.clientHeaders }),
    ...(variant.edgeSystemLogLevel === undefined
      ? {}
      : { edgeSystemLogLevel: variant.edgeSystemLogLevel }),
  };
}

interface Usage {
  invocations: number;
  billedMs: number;
  cpuMicros: number;
  outputBytes: number;
  outputEvents: number;
}

const emptyUsage = (): Usage => ({
  invocations: 0,
  billedMs: 0,
  cpuMicros: 0,
  outputBytes: 0,
  outputEvents: 0,
});

async function runCostCase(
  store: Awaited<ReturnType<typeof startStoreChild>>,
  regions: readonly string[],
  variant: CostVariant,
  sizes: CostSizes,
  duration: DurationModel,
  fixed: FixedMonthly,
  startMs: number,
): Promise<CostCase> {
  const workload = COST_WORKLOADS.find((w) => w.id === variant.workload) as CostWorkload;
  const variantConfig = costConfig(regions, variant);
  const config = resolveConfig(variantConfig);
  const stepMs = 1000 / (sizes.requestsPerSecondPerContainer * regions.length);
  let tick = 0;
  const clock = () => Math.floor(startMs + tick * stepMs);
  const containers: EdgeContainer[] = regions.map((region) =>
    composeEdgeContainer({
      config,
      awsRegion: region,
      access: {
        endpointOf: (replica) => store.endpoints[replica],
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      },
      clock,
      metrics: { disabled: false },
    }),
  );
  // Whether the stacks would deploy the viewer-response function for this config.
  const headersOn = edgeFunctionRoles(variantConfig).includes('viewer-response');
  const keyPrefix = `${variant.id}-${startMs}`;
  const warmup = Math.ceil((sizes.warmupSeconds * 1000) / stepMs);
  const measured = Math.round((sizes.measuredMinutes * 60_000) / stepMs);
  const request = emptyUsage();
  const response = emptyUsage();
  let admitted = 0;
  let storeCalls = 0;
  let before = await store.snapshot();
  const capture = new OutputCapture();
  // What the handlers write before the measured window: captured, not counted.
  const discarded = emptyUsage();
  capture.start();
  try {
    for (let i = 0; i < warmup + measured; i++) {
      tick = i;
      const measuring = i >= warmup;
      if (i === warmup) {
        // The window starts right after a flush of every container, so it holds whole intervals.
        capture.into(discarded);
        for (const c of containers) c.metrics.flush();
        capture.into(undefined);
        await store.settle();
        before = await store.snapshot();
      }
      const container = containers[i % containers.length] as EdgeContainer;
      const key = `${keyPrefix}-k${Math.floor(i / containers.length) % workload.keys}`;
      const event = viewerRequestEvent({
        uri: REQUEST_PATH,
        apiKey: key,
        clientIp: '203.0.113.7',
        requestId: randomUUID(),
        userAgent: 'cost-bench/1.0',
      });
      const callsBefore = container.limiter.counters.reads + container.limiter.counters.writes;
      capture.into(measuring ? request : discarded);
      const cpuBefore = process.cpuUsage();
      const result = await container.handle(event);
      const cpu = cpuMicrosSince(cpuBefore);
      capture.into(undefined);
      const calls =
        container.limiter.counters.reads + container.limiter.counters.writes - callsBefore;
      const outcome = classifyViewerRequestResult(
        result,
        event.Records[0]?.cf.request as CloudFrontRequest,
      );
      if (outcome.kind === 'invalid')
        throw new Error(`invalid viewer-request result: ${outcome.reason}`);
      if (outcome.kind === 'forward' && !chargedPolicy(outcome.request)) {
        throw new Error(
          `${variant.id}: ${REQUEST_PATH} was not decided by the ${POLICY_ID} policy`,
        );
      }
      if (!measuring) continue;
      count(request, cpu, billedDurationMs(cpu, calls, duration));
      storeCalls += calls;
      if (outcome.kind !== 'forward') continue;
      admitted += 1;
      if (!headersOn) continue;
      capture.into(response);
      const responseCpuBefore = process.cpuUsage();
      await responseHandler(viewerResponseEvent(outcome.request, originResponse(), randomUUID()));
      const responseCpu = cpuMicrosSince(responseCpuBefore);
      capture.into(undefined);
      count(response, responseCpu, billedDurationMs(responseCpu, 0, duration));
    }
    // Close the window: the last interval of every container.
    capture.into(request);
    for (const c of containers) c.metrics.flush();
    capture.into(undefined);
  } finally {
    capture.stop();
  }
  await store.settle();
  const traffic = billedTraffic(diffCounts(await store.snapshot(), before));
  if (admitted === 0) throw new Error(`${variant.id}: nothing was admitted`);
  const usage = (u: Usage): EdgeFunctionUsage => ({
    invocations: u.invocations,
    billedMs: u.billedMs,
    memoryMb: EDGE_MEMORY_MB,
    outputBytes: u.outputBytes,
    outputEvents: u.outputEvents,
  });
  const run: CostRun = {
    admitted,
    viewerRequest: usage(request),
    ...(headersOn ? { viewerResponse: usage(response) } : {}),
    store: traffic,
    replicas: regions.length,
    edgeSystemLogLevel: edgeSystemLogLevel(variantConfig),
  };
  return {
    variant,
    decisions: measured,
    admitted,
    run,
    storeCallsPerRequest: storeCalls / measured,
    outputBytesPerAdmitted: (request.outputBytes + response.outputBytes) / admitted,
    outputBytesPerContainerMinute:
      (request.outputBytes + response.outputBytes) / (sizes.measuredMinutes * containers.length),
    cpuMicrosPerRequest: request.cpuMicros / Math.max(1, request.invocations),
    cpuMicrosPerResponse: response.cpuMicros / Math.max(1, response.invocations),
    breakdown: costPerMillionAdmitted(run, fixed),
  };
}

/** Whether the forwarded request was decided by the workloads' policy (its decision header). */
function chargedPolicy(request: CloudFrontRequest): boolean {
  const value = request.headers[ORIGIN_HEADERS.policy]?.[0]?.value ?? '';
  return value.startsWith(`"${POLICY_ID}"`);
}

function count(usage: Usage, cpuMicros: number, billedMs: number): void {
  usage.invocations += 1;
  usage.cpuMicros += cpuMicros;
  usage.billedMs += billedMs;
}

function cpuMicrosSince(before: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(before);
  return d.user + d.system;
}

function originResponse(): CloudFrontResponse {
  return {
    status: '200',
    statusDescription: 'OK',
    headers: { 'content-type': [{ key: 'Content-Type', value: 'application/json' }] },
  };
}

/**
 * Counts what is written to stdout and stderr while a handler runs, and keeps
 * it off the terminal. Between invocations (the bench's own logging) it passes
 * writes through.
 */
class OutputCapture {
  readonly #stdout = process.stdout.write.bind(process.stdout);
  readonly #stderr = process.stderr.write.bind(process.stderr);
  #target: Usage | undefined;
  #active = false;

  start(): void {
    if (this.#active) return;
    this.#active = true;
    const intercept =
      (pass: typeof process.stdout.write) =>
      (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
        const target = this.#target;
        if (target === undefined) {
          return (pass as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
        }
        const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
        for (const line of text.split('\n')) {
          if (line.length === 0) continue;
          target.outputBytes += Buffer.byteLength(line, 'utf8');
          target.outputEvents += 1;
        }
        return true;
      };
    process.stdout.write = intercept(this.#stdout) as typeof process.stdout.write;
    process.stderr.write = intercept(this.#stderr) as typeof process.stderr.write;
  }

  /** Where writes count from now on (`undefined`: passed through). */
  into(target: Usage | undefined): void {
    this.#target = target;
  }

  stop(): void {
    if (!this.#active) return;
    process.stdout.write = this.#stdout;
    process.stderr.write = this.#stderr;
    this.#active = false;
    this.#target = undefined;
  }
}
