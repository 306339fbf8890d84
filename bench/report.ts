/**
 * Renders the benchmark results as the Markdown report (and holds the shape of
 * report.json). Why a pure renderer: the report is the deliverable, and its
 * layout and arithmetic are tested without running any benchmark.
 */

import { DEFAULT_LEASE_TTL_MS } from '../functions/config/resolve';
import type { AccuracyResult } from './accuracy-types';
import { renderCost } from './cost-report';
import type { CostResult } from './cost-variants';
import type { DecisionCostResult } from './decision-cost';
import { type EdgeClientResult, latencyAtMemoryMs } from './edge-client';
import { type EdgeLatencyResult, renderEdgeLatency } from './edge-latency';
import type { E2eRun, EndToEndResult } from './end-to-end';
import { type EscrowBenchResult, renderEscrow } from './escrow';
import type { MachineInfo } from './machine';
import type { ScaleResult } from './scale';
import { renderSeveralLimits, type SeveralLimitsResult } from './several-limits';
import type { StoreTrafficResult } from './store-traffic';
import type { BundleResult, TargetResult } from './targets';

/** Everything one `npm run bench` produced: the content of report.json. */
export interface BenchReport {
  readonly meta: {
    /** ISO time the run finished. */
    readonly generatedAt: string;
    readonly profile: 'full' | 'quick';
    /** The command that produced it. */
    readonly command: string;
    readonly machine: MachineInfo;
    readonly durationSeconds: number;
  };
  readonly decisionCost?: DecisionCostResult;
  readonly storeTraffic?: StoreTrafficResult;
  readonly endToEnd?: EndToEndResult;
  readonly accuracy?: AccuracyResult;
  readonly scale?: ScaleResult;
  readonly cost?: CostResult;
  readonly bundle?: BundleResult;
  readonly edgeClient?: EdgeClientResult;
  readonly edgeLatency?: EdgeLatencyResult;
  readonly severalLimits?: SeveralLimitsResult;
  readonly escrow?: EscrowBenchResult;
  readonly targets: readonly TargetResult[];
  /** Parts that failed or were skipped, and why. */
  readonly problems: readonly { readonly part: string; readonly message: string }[];
}

/** Formats a number with `digits` decimals and thousands separators. */
export function num(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** Formats a ratio as `×1.23`. */
export function times(value: number | undefined, digits = 2): string {
  return value === undefined || !Number.isFinite(value) ? '—' : `×${num(value, digits)}`;
}

/**
 * A Markdown table. Cells are escaped for `|`.
 *
 * @throws RangeError when a row does not have one cell per column.
 */
export function table(
  columns: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const ragged = rows.findIndex((r) => r.length !== columns.length);
  if (ragged >= 0) {
    throw new RangeError(
      `table row ${ragged} has ${rows[ragged]?.length} cells for ${columns.length} columns`,
    );
  }
  const cell = (c: string | number) => String(c).replaceAll('|', '\\|');
  const head = `| ${columns.map(cell).join(' | ')} |`;
  const rule = `|${columns.map(() => '---').join('|')}|`;
  return [head, rule, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

const STATUS_MARK: Record<TargetResult['status'], string> = {
  met: '✅ met',
  missed: '❌ missed',
  'not measured': '⚪ not measured',
};

/** The targets table, shared by the report and docs/performance.md. */
export function renderTargets(targets: readonly TargetResult[]): string {
  return table(
    ['target', 'measured', 'verdict', 'note'],
    targets.map((t) => [t.goal, t.measured, STATUS_MARK[t.status], t.note ?? '']),
  );
}

/** One line describing the machine. */
export function machineLine(m: MachineInfo): string {
  return `Node ${m.nodeVersion}, ${m.cpuModel}, ${m.cores} cores, ${num(m.memoryGiB, 1)} GiB RAM (${m.platform})`;
}

function renderDecisionCost(r: DecisionCostResult): string {
  return [
    '## 1. Decision cost (pure core, CPU time per call)',
    '',
    `${num(r.iterations)} timed calls per case after ${num(r.warmupIterations)} warm-up calls; each call timed alone with \`process.hrtime.bigint()\` (timer overhead ≈ ${num(r.timerOverheadNs)} ns, included). Views hold one item per slot, each with a checkpoint over every slot.`,
    '',
    table(
      ['operation', 'slots', 'median (µs)', 'p90 (µs)', 'p99 (µs)', 'calls/s on one core (batch)'],
      r.timings.map((t) => [
        t.operation,
        t.slots,
        num(t.nanoseconds.median / 1000, 2),
        num(t.nanoseconds.p90 / 1000, 2),
        num(t.nanoseconds.p99 / 1000, 2),
        num(t.callsPerSecond),
      ]),
    ),
  ].join('\n');
}

function renderStoreTraffic(r: StoreTrafficResult): string {
  const p = r.priceSheet;
  const rows = r.cases.map((c) => [
    c.workload,
    c.variant,
    `${num((100 * c.admitted) / c.decisions, 1)} %`,
    num(c.cost.writesPer1000, 1),
    num(c.cost.readsPer1000, 1),
    num(c.cost.wruPer1000, 1),
    num(c.cost.rruPer1000, 1),
    num(c.cost.rwruPer1000, 1),
    `$${num(c.cost.usdPerMillionDecisions, 3)}`,
    num(c.writesPerAdmitted, 3),
    `${c.storeCallsWhileBlocked} / ${num(c.blockedDecisions)}`,
  ]);
  const refRows = r.reference.map((c) => [
    c.workload,
    `RateLimiterDynamo (${c.variant})`,
    `${num((100 * c.admitted) / c.decisions, 1)} %`,
    num(c.cost.writesPer1000, 1),
    num(c.cost.readsPer1000, 1),
    num(c.cost.wruPer1000, 1),
    num(c.cost.rruPer1000, 1),
    num(c.cost.rwruPer1000, 1),
    `$${num(c.cost.usdPerMillionDecisions, 3)}`,
    num(c.writesPerAdmitted, 3),
    '—',
  ]);
  return [
    '## 2. Store traffic and cost',
    '',
    `Real \`Limiter\` (one per region) on ${r.regions.length} emulated regions replicating like a global table (${r.regions.join(', ')}); every request counted at a proxy in front of each region's DynamoDB, which asks dynalite for \`ConsumedCapacity\`. Steady load on a simulated clock, requests round-robin over regions and keys, issued one at a time (no conditional-write races: a floor; contention adds retries). At least ${num(r.warmupDecisions)} warm-up decisions (more where a workload needs them to reach its steady level), then ${num(r.measuredDecisions)} measured decisions per row. Writes include writes rejected by their condition (billed, not replicated).`,
    '',
    table(
      [
        'workload',
        'limiter setting',
        'admitted',
        'writes /1k',
        'reads /1k',
        'WRU /1k',
        'RRU /1k',
        `rWRU /1k (${r.regions.length} replicas)`,
        `$ / 1M decisions`,
        'writes / admitted',
        'store calls / blocked decisions',
      ],
      [...rows, ...refRows],
    ),
    '',
    `Prices (${p.region}, on-demand, effective ${p.effectiveDate}): $${p.writeRequestUnitUsdPerMillion} per million WRU, $${p.readRequestUnitUsdPerMillion} per million RRU, $${p.replicatedWriteRequestUnitUsdPerMillion} per million rWRU. Source: ${p.source}. Dollars per million decisions = rWRU (each successful write once per replica, rejected writes once) + RRU; storage, streams and data transfer excluded.`,
    '',
    'Settings: ' +
      `no-cache = other slots read on every decision, no lease; view-cache = the default 250 ms cache, no lease; default = the view cache and the default lease (sized to demand, up to a tenth of the capacity, ${DEFAULT_LEASE_TTL_MS / 1000} s); lease-N = view cache + leases of up to N tokens, 1 s TTL, ≤ 10 % of the level. The blocked-until cache is always on. The measured window is a multiple of 300 decisions (30 (key, region) containers × 10-token leases), so every container runs whole lease cycles and a lease shows its steady writes per request rather than a partial cycle at the edges of the window. Counts follow the simulated clock, not the machine: a longer window gives the same rates. RateLimiterDynamo rows: same emulated table and proxies, real clock, first region only, requests back to back; it is a fixed-window counter (one item per key), sized to admit the same share.`,
  ].join('\n');
}

function renderEndToEnd(r: EndToEndResult): string {
  const names: Record<string, string> = {
    none: 'no limiter (ceiling)',
    ours: 'ours (bundled edge handler)',
    rlf: 'RateLimiterDynamo',
    'rlf-mem': 'RateLimiterDynamo + inMemoryBlockOnConsumed',
  };
  const parts: string[] = [
    '## 3. End to end (local edge, loopback)',
    '',
    `autocannon in a child process, ${r.connections} connections, closed loop (throughput at saturation): ${r.warmupSeconds} s warm-up per decider, then the limiters measured interleaved in ${r.segmentSeconds} s segments (A B … B A, two each) and the no-limiter ceiling for ${r.noneSeconds} s; each run is bounded to ${num(r.maxRequests)} requests. Latency percentiles of a limiter are the response-weighted means of its two segments. Same CloudFront-like edge server (the local runtime's), same echo origin, same DynamoDB (one dynalite in a child process, region ${r.region}); only the decider changes. Ours is the bundled edge handler loaded as \`npm start\` loads it, with metrics off (as under \`npm start\`) and a store budget of ${num(r.storeBudgetMs)} ms instead of 150 ms, so that queueing on this saturated machine does not turn decisions into (cheaper) fail-open fallbacks; fallbacks are counted. Not through \`startLocal\`'s emulated regions: their replicating proxy serialises every write of a region and caps the write rate below what either limiter needs. Ratios are from this run only.`,
    '',
    "Reading the rows: with hot keys our decision is one conditional UpdateItem (the other slots come from the 250 ms view cache) against RateLimiterDynamo's two UpdateItems; with cold keys it is a Query (the bucket's slots) plus the UpdateItem, as many round trips as the reference, on larger items (the checkpoint map) and with more CPU per call. CPU time per request (this process: edge front, decider, origin; and the store's process) hardly depends on what else runs on the machine, unlike throughput: it is the steadier measure of what each decider costs. Above a few thousand req/s the single-threaded load generator and the socket writes bound every decider alike, so in refused-heavy the ceiling, ours and RateLimiterDynamo with its in-memory block are all near that bound; bytes / response shows how large each answer is (ours carries the RateLimit headers and a JSON body).",
  ];
  for (const w of r.workloads) {
    parts.push(
      '',
      `### ${w.workload}: ${w.description}`,
      '',
      e2eTable(w.runs, names),
      '',
      `Ours / RateLimiterDynamo: throughput ${times(w.ratios.throughputOursOverRlf)}, p99 ${times(w.ratios.p99OursOverRlf)}; with its in-memory block: throughput ${times(w.ratios.throughputOursOverRlfMem)}, p99 ${times(w.ratios.p99OursOverRlfMem)}. Ours / ceiling: ${times(w.ratios.throughputOursOverNone)}.`,
    );
    const eq = w.equalLoad;
    if (eq !== undefined) {
      parts.push(
        '',
        `At an equal offered load of ${num(eq.requestsPerSecond)} req/s (${num(100 * r.equalLoadShare)} % of the slower one's throughput, open loop, ${r.equalLoadSegmentSeconds ?? '—'} s segments interleaved):`,
        '',
        e2eTable([eq.ours, eq.rlf], names),
        '',
        `Ours / RateLimiterDynamo p99 at equal load: ${times(eq.p99OursOverRlf)}.`,
      );
    }
  }
  return parts.join('\n');
}

function e2eTable(runs: readonly E2eRun[], names: Readonly<Record<string, string>>): string {
  return table(
    [
      'decider',
      'req/s',
      'p50 (ms)',
      'p90 (ms)',
      'p99 (ms)',
      '200',
      '429',
      'other / errors',
      'fallbacks',
      'bytes / response',
      'CPU µs / request (front + decider)',
      'CPU µs / request (store)',
      'req/s per segment',
    ],
    runs.map((run) => [
      names[run.variant] ?? run.variant,
      num(run.load.requestsPerSecond),
      num(run.load.latencyMs.p50, 1),
      num(run.load.latencyMs.p90, 1),
      num(run.load.latencyMs.p99, 1),
      num(run.forwarded),
      num(run.refused),
      num(run.failures),
      run.fallbacks === undefined ? '—' : num(run.fallbacks),
      num(run.load.bytesPerResponse),
      num(run.frontCpuMicrosPerRequest),
      num(run.storeCpuMicrosPerRequest),
      run.segmentRequestsPerSecond.map((x) => num(x)).join(', '),
    ]),
  );
}

function renderAccuracy(r: AccuracyResult): string {
  const parts = ['## 4. Accuracy (simulator, against its peers)', ''];
  for (const t of r.tables) parts.push(`### ${t.title}`, '', table(t.columns, t.rows), '');
  if (r.notes.length > 0) parts.push(r.notes.map((n) => `- ${n}`).join('\n'));
  return parts.join('\n').trimEnd();
}

function renderScale(r: ScaleResult): string {
  return [
    '## 5. Scale',
    '',
    '### Regions (slots per bucket)',
    '',
    "allowed-heavy workload, default view cache, as in §2; core CPU time from §1's method for a view of that many slots. Wall time is sequential, through two loopback proxies and the emulator, on a shared machine: compare rows, not machines.",
    '',
    table(
      [
        'regions',
        'decide median (µs)',
        'decide p99 (µs)',
        'writes /1k',
        'reads /1k',
        'rWRU /1k',
        '$ / 1M decisions',
        'wall µs / decision',
      ],
      r.regionsSweep.map((p) => [
        p.regions,
        num(p.decideNs.median / 1000, 2),
        num(p.decideNs.p99 / 1000, 2),
        num(p.writesPer1000, 1),
        num(p.readsPer1000, 1),
        num(p.rwruPer1000, 1),
        `$${num(p.usdPerMillionDecisions, 3)}`,
        num(p.wallMicrosecondsPerDecision),
      ]),
    ),
    '',
    '### Distinct keys',
    '',
    `One container (\`Limiter\`, bucket cache bound ${num(r.maxCachedBuckets)}) deciding once per key, keys cycled up to a minimum number of decisions (so the 1-key row is one hot bucket), ${r.keysConcurrency} decisions in flight, against dynalite in a child process; every decision is admitted (capacity far above the load), so each costs a write, and a key's first decision also a Query. Heap = \`heapUsed\` after a forced GC, minus before the container existed (per bucket only from 1,000 keys: below that GC noise dominates). Each row is bounded in time; a row cut short says so.`,
    '',
    table(
      [
        'keys',
        'decisions',
        'decisions/s',
        'latency p50 (ms)',
        'latency p99 (ms)',
        'heap Δ (MiB)',
        'heap / cached bucket (B)',
        'table items',
        'cut by time bound',
      ],
      r.keysSweep.map((p) => [
        num(p.keys),
        `${num(p.decisions)} / ${num(p.plannedDecisions)}`,
        num(p.decisionsPerSecond),
        num(p.latencyMs.median, 2),
        num(p.latencyMs.p99, 2),
        num(p.heapDeltaBytes / 1024 ** 2, 2),
        p.heapBytesPerCachedBucket === undefined ? '—' : num(p.heapBytesPerCachedBucket),
        num(p.tableItems),
        p.cutByTime ? 'yes' : 'no',
      ]),
    ),
  ].join('\n');
}

function renderEdgeClient(r: EdgeClientResult): string {
  const m = r.moduleLoad;
  const row = (transport: 'sdk' | 'light') => {
    const v = r.variants[transport];
    return [
      transport === 'sdk'
        ? "SDK client (today's, sdk-transport.ts)"
        : 'light transport (http-transport.ts)',
      num(v.medianCpuMicrosPerDecision),
      v.cpuMicrosPerDecision.map((x) => num(x)).join(', '),
      num(v.storeCallsPerDecision, 2),
      num(v.latencyAt128MbMs, 2),
      num(v.medianWallMicrosPerDecision),
      `${num(m.zippedBytes[transport] / 1024, 1)} KB`,
      num(m.requireMsMedian[transport], 1),
      num(m.initMsMedian[transport], 1),
    ];
  };
  const [low, high] = r.cpuRatioRange;
  const floors = r.floors ?? [];
  const floorRows = floors.map((f) => [
    `floor: ${f.name}`,
    num(f.medianCpuMicrosPerDecision),
    '',
    num(f.storeCallsPerDecision, 2),
    num(latencyAtMemoryMs(f.medianCpuMicrosPerDecision), 2),
    '',
    '—',
    '—',
    '—',
  ]);
  return [
    "## 6. The edge's DynamoDB client",
    '',
    `The real \`Limiter\`, wired as the edge wires it, on each client against one dynalite in a child process (its CPU is not counted): one hot key, every decision admitted, view cache and blocked-until cache off, so every decision calls the store. ${r.rounds} rounds of ${num(r.decisionsPerRound)} sequential decisions per client after ${num(r.warmupDecisions)} warm-up decisions, the clients alternating round by round; a round's figure is this process's \`process.cpuUsage()\` over the round per decision. Added latency at 128 MB = CPU time × 1769/128 (a viewer trigger's share of a vCPU). Bundle: the viewer-request bundle built on each client, zipped, and \`require\` and container init in ${m.runs} fresh processes each, interleaved.`,
    '',
    table(
      [
        'client',
        'CPU µs / decision (median)',
        'per round',
        'store calls / decision',
        'added at 128 MB (ms)',
        'wall µs / decision',
        'bundle zipped',
        'require (ms, median)',
        'container init (ms, median)',
      ],
      [row('sdk'), row('light'), ...floorRows],
    ),
    '',
    `Light / SDK, this run: CPU ${times(r.cpuRatio)} (paired rounds ${times(low)}–${times(high)}), bundle ${times(m.zippedRatio)}, require ${times(m.requireRatio)}.`,
    ...(floors.length === 0
      ? []
      : [
          '',
          `Floors in the same rounds (bench/edge-client-floors.ts; diagnostics, not clients): the light client's requests sent unsigned, over node:http and over a bare socket with no HTTP library. Against the SDK client: ${floors.map((f) => `${f.name} ${times(f.ratioToSdk)}`).join(', ')}. What the light client costs above the first is its signature and its transport's own work; the second is what leaving node:http could buy at most.`,
        ]),
  ].join('\n');
}

/** Renders the whole report. */
export function renderReport(report: BenchReport): string {
  const m = report.meta;
  const parts: string[] = [
    '# Performance report',
    '',
    `Generated ${m.generatedAt} by \`${m.command}\` (${m.profile} profile) in ${num(m.durationSeconds)} s.`,
    '',
    `Machine: ${machineLine(m.machine)}. A shared, noisy machine: absolute times vary between runs; only ratios measured side by side in this run are compared.`,
    '',
    '## Targets',
    '',
    renderTargets(report.targets),
  ];
  if (report.decisionCost) parts.push('', renderDecisionCost(report.decisionCost));
  if (report.storeTraffic) parts.push('', renderStoreTraffic(report.storeTraffic));
  if (report.endToEnd) parts.push('', renderEndToEnd(report.endToEnd));
  if (report.accuracy) parts.push('', renderAccuracy(report.accuracy));
  if (report.scale) parts.push('', renderScale(report.scale));
  if (report.edgeClient) parts.push('', renderEdgeClient(report.edgeClient));
  if (report.cost) parts.push('', renderCost(report.cost));
  if (report.edgeLatency) parts.push('', renderEdgeLatency(report.edgeLatency));
  if (report.severalLimits) parts.push('', renderSeveralLimits(report.severalLimits));
  if (report.escrow) parts.push('', renderEscrow(report.escrow));
  if (report.problems.length > 0) {
    parts.push(
      '',
      '## Parts not measured',
      '',
      report.problems.map((p) => `- ${p.part}: ${p.message}`).join('\n'),
    );
  }
  return `${parts.join('\n')}\n`;
}
