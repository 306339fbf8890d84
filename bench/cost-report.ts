/**
 * The cost section of the report (and of `npm run bench -- --cost`): dollars
 * per million admitted requests for every variant, part by part, the default
 * config's arithmetic, the comparison rows, and every price with its source
 * and date. Pure: tested without running anything.
 */

import {
  COST_COMPARISONS,
  COST_PARTS,
  type CostPartId,
  costPerMillionAdmitted,
  DEFAULT_COST_PRICES,
  LAMBDA_PLATFORM_LOGS,
  LOG_EVENT_OVERHEAD_BYTES,
  type SourcedPrice,
} from './cost-model';
import type { CostCase, CostResult } from './cost-variants';

/** The goal for the default config with three replicas ($ per million admitted). */
export const COST_TARGET_USD_PER_MILLION = 1.5;

const usd = (x: number) => `$${x.toFixed(3)}`;
const pct = (x: number) => `${(100 * x).toFixed(0)} %`;
const n = (x: number, digits = 0) =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function part(c: CostCase, id: CostPartId) {
  return c.breakdown.parts.find((p) => p.id === id);
}

/** The variant that runs the viewer-response function on top of the default. */
export const HEADERS_ON_VARIANT = 'headers-on';

/**
 * What the RateLimit headers of admitted responses (`clientHeaders:
 * 'viewer-response'`) cost per million admitted requests: the headers-on run
 * priced with and without its viewer-response function (its requests,
 * duration, output and Lambda's records of it), so run-to-run noise in the
 * other parts does not enter. Undefined when no run had the function.
 */
export function headersCost(result: CostResult): number | undefined {
  const on = result.cases.find((c) => c.variant.id === HEADERS_ON_VARIANT);
  if (on?.run.viewerResponse === undefined) return undefined;
  const { viewerResponse: _, ...without } = on.run;
  return (
    on.breakdown.perRequestUsdPerMillion -
    costPerMillionAdmitted(without, result.fixed).perRequestUsdPerMillion
  );
}

/**
 * What Lambda's own START/END/REPORT records would cost the default run at
 * `edgeSystemLogLevel: 'INFO'` over what it ran with (nothing when it ran at
 * INFO or DEBUG already). Undefined without a default run.
 */
export function systemLogsInfoCost(result: CostResult): number | undefined {
  const def = result.cases.find((c) => c.variant.id === 'default');
  if (def === undefined) return undefined;
  return (
    costPerMillionAdmitted({ ...def.run, edgeSystemLogLevel: 'INFO' }, result.fixed)
      .perRequestUsdPerMillion - def.breakdown.perRequestUsdPerMillion
  );
}

/** Renders the cost section. */
export function renderCost(
  result: CostResult,
  heading = '## 7. Cost per million admitted requests',
): string {
  const cases = result.cases;
  const prices = DEFAULT_COST_PRICES;
  const d = result.duration;
  const volume = n(result.fixed.admittedPerMonth / 1e6);
  const lines: string[] = [
    heading,
    '',
    `The edge as deployed (\`composeEdgeContainer\`, one container per region, the viewer-response handler on every forwarded request when deployed) on ${result.regions.length} emulated regions replicating like a global table (${result.regions.join(', ')}), in a child process behind counting proxies. Simulated time: ${n(result.sizes.requestsPerSecondPerContainer)} requests/s per container, ${n(result.sizes.warmupSeconds)} s of warm-up, then ${n(result.sizes.measuredMinutes)} minute(s) measured, from one metrics flush to the next. Requests go to the \`api\` rule of limiter.config.ts (GET, \`x-api-key\`). Handler output is every byte the handlers write to stdout and stderr during the window; duration is each invocation's CPU time here × ${d.cpuSlowdown.toFixed(1)} (a 128 MB function's CPU share, 1769/128) plus ${n(d.storeRoundTripMs)} ms per store call that finished during it, rounded up to ${n(d.granularityMs)} ms. Fixed monthly costs are spread over ${volume} million admitted requests a month. CloudFront's own request and data-transfer fees are left out: they are the same with or without the limiter.`,
    '',
    table(
      ['part', ...cases.map((c) => c.variant.id)],
      [
        ...COST_PARTS.map((id) => [
          part(cases[0] as CostCase, id)?.label ?? id,
          ...cases.map((c) => {
            const p = part(c, id);
            return p === undefined ? '—' : `${usd(p.usdPerMillion)} (${pct(p.share)})`;
          }),
        ]),
        ['**per request**', ...cases.map((c) => `**${usd(c.breakdown.perRequestUsdPerMillion)}**`)],
        [
          `**with fixed costs at ${volume} M/month**`,
          ...cases.map((c) => `**${usd(c.breakdown.totalUsdPerMillion)}**`),
        ],
      ],
    ),
    '',
    cases.map((c) => `- ${c.variant.id}: ${c.variant.description}.`).join('\n'),
  ];

  const def = cases.find((c) => c.variant.id === 'default');
  if (def !== undefined) {
    const verdict =
      def.breakdown.perRequestUsdPerMillion <= COST_TARGET_USD_PER_MILLION ? 'met' : 'missed';
    lines.push(
      '',
      `### The default config, part by part`,
      '',
      `Target: ≤ $${COST_TARGET_USD_PER_MILLION.toFixed(2)} per million admitted requests for the default config (as shipped) with ${result.regions.length} replicas: ${verdict} (${usd(def.breakdown.perRequestUsdPerMillion)} per request, ${usd(def.breakdown.totalUsdPerMillion)} with the fixed costs).`,
      '',
      table(
        ['part', 'quantity per admitted request × price', '$ / 1M admitted', 'share'],
        def.breakdown.parts.map((p) => [p.label, p.basis, usd(p.usdPerMillion), pct(p.share)]),
      ),
    );
  }
  const headers = headersCost(result);
  if (headers !== undefined) {
    lines.push(
      '',
      `What the RateLimit headers of admitted responses cost: ${usd(headers)} per million admitted requests with \`clientHeaders: 'viewer-response'\` (the viewer-response function's requests, its duration and its log lines, priced from the ${HEADERS_ON_VARIANT} run). Refusals carry their headers either way.`,
    );
  }
  const systemLogs = systemLogsInfoCost(result);
  if (systemLogs !== undefined && systemLogs > 0) {
    lines.push(
      '',
      `What Lambda's own START/END/REPORT records would cost: ${usd(systemLogs)} per million admitted requests with \`edgeSystemLogLevel: 'INFO'\` (priced from the default run).`,
    );
  }
  lines.push(
    '',
    '### Measured inputs',
    '',
    table(
      [
        'variant',
        'admitted / requests',
        'store calls / request',
        'writes / admitted',
        'handler output / admitted (B)',
        'handler output / container-minute (B)',
        'CPU µs / viewer request',
        'CPU µs / viewer response',
        'billed ms / viewer request',
      ],
      cases.map((c) => [
        c.variant.id,
        `${n(c.admitted)} / ${n(c.decisions)}`,
        n(c.storeCallsPerRequest, 3),
        n(
          (c.run.store.writeUnits + c.run.store.failedConditionalWrites) / Math.max(1, c.admitted),
          3,
        ),
        n(c.outputBytesPerAdmitted, 1),
        n(c.outputBytesPerContainerMinute),
        n(c.cpuMicrosPerRequest),
        c.run.viewerResponse === undefined ? '—' : n(c.cpuMicrosPerResponse),
        n(c.run.viewerRequest.billedMs / Math.max(1, c.run.viewerRequest.invocations), 2),
      ]),
    ),
    '',
    `Log bytes: handler output counts ${LOG_EVENT_OVERHEAD_BYTES} bytes per line on top of the line (CloudWatch Logs' per-event size, assumed to be metered); Lambda's own START/END/REPORT records are ${LAMBDA_PLATFORM_LOGS.bytesPerInvocation} bytes in ${LAMBDA_PLATFORM_LOGS.eventsPerInvocation} events per invocation of each function at system log level INFO or DEBUG, none at WARN (only its rare warnings, such as dropped logs, not counted). Metric series: ${result.series.perEdgeRegion} per region while traffic flows × ${result.series.edgeRegions} regional-edge-cache regions + ${result.series.reconciler} of the reconciler = ${result.series.total} (another ${result.series.incidentPerEdgeRegion} per region only while fallbacks, errors or retries happen, billed by the hour). Alarms: ${result.watch.alarms} (${result.watch.alarmMetrics} alarm metrics); dashboards: ${result.watch.dashboards}.`,
    '',
    '### Compared with',
    '',
    table(
      ['', '$ / 1M requests', 'what it does', 'source'],
      [
        ...(def === undefined
          ? []
          : [
              [
                'this limiter, default config',
                usd(def.breakdown.perRequestUsdPerMillion),
                'token buckets per key, shared worldwide through the global table; RateLimit headers on refusals (on every response with the viewer-response function); per-request decisions at the edge',
                'measured above',
              ],
            ]),
        ...COST_COMPARISONS.map((c) => [
          c.label,
          `≈ ${usd(c.usdPerMillion)}`,
          c.note,
          `${c.source} (${c.asOf})`,
        ]),
      ],
    ),
    '',
    '### Prices',
    '',
    'Recorded in bench/cost-model.ts with the page each was read from; not re-read live from the machine that ran this (no network): check them before relying on the dollar figures.',
    '',
    (
      [
        ['Lambda@Edge requests', prices.lambdaEdgeRequests],
        ['Lambda@Edge duration', prices.lambdaEdgeDuration],
        ['CloudWatch Logs ingestion', prices.logsIngestion],
        ['CloudWatch custom metrics', prices.customMetric],
        ['CloudWatch alarms', prices.alarm],
        ['CloudWatch dashboards', prices.dashboard],
      ] as const satisfies readonly (readonly [string, SourcedPrice])[]
    )
      .map(
        ([label, p]) =>
          `- ${label}: $${p.usd} ${p.unit}. Source: ${p.source} (recorded ${p.asOf}).`,
      )
      .concat(
        `- DynamoDB (${prices.dynamodb.region}, on-demand, effective ${prices.dynamodb.effectiveDate}): $${prices.dynamodb.replicatedWriteRequestUnitUsdPerMillion} per million replicated write units (every replica, the receiving one included), $${prices.dynamodb.readRequestUnitUsdPerMillion} per million read units. Source: ${prices.dynamodb.source}.`,
      )
      .join('\n'),
  );
  return lines.join('\n');
}
