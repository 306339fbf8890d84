/**
 * `npm run bench`: runs every benchmark part offline on loopback and writes
 * bench/results/report.md and report.json (and, for a full run, the
 * generated part of docs/performance.md). `--quick` runs the same parts at smoke sizes in
 * under a minute; `--only a,b` runs some parts; both write bench/out/
 * (gitignored) instead of the tracked report. `--out dir` writes elsewhere;
 * `--cost` runs the cost part alone and prints its table (files only with `--out`).
 *
 * Why parts fail softly: a part whose dependency is broken is reported as
 * "not measured" with its error, so one failure never hides the other
 * figures. The process still exits non-zero when any part failed.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import projectConfig from '../limiter.config';
import { buildFunction, hasEntry } from '../scripts/build-functions';
import { REGIONAL_EDGE_CACHE_REGIONS } from '../sim/network/model';
import { measureAccuracy } from './accuracy';
import type { AccuracyResult } from './accuracy-types';
import { renderCost } from './cost-report';
import { measureCost } from './cost-run';
import type { CostResult } from './cost-variants';
import { type DecisionCostResult, measureDecisionCost } from './decision-cost';
import { type EdgeClientResult, measureEdgeClient } from './edge-client';
import { type EdgeLatencyResult, measureEdgeLatency } from './edge-latency';
import { type EndToEndResult, measureEndToEnd } from './end-to-end';
import { type EscrowBenchResult, measureEscrow } from './escrow';
import { machineInfo } from './machine';
import { type BenchArgs, BenchUsageError, PARTS, parseArgs, REPORT_DIR } from './options';
import { writePerformanceDoc } from './performance-section';
import { type BenchReport, renderReport } from './report';
import { measureScale, type ScaleResult } from './scale';
import { measureSeveralLimits, type SeveralLimitsResult } from './several-limits';
import { measureStoreTraffic, type StoreTrafficResult } from './store-traffic';
import { type BundleResult, evaluateTargets } from './targets';

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

async function step<T>(
  name: string,
  problems: { part: string; message: string }[],
  missing: Record<string, string>,
  run: () => Promise<T> | T,
): Promise<T | undefined> {
  const startedMs = performance.now();
  log(`${name}: running`);
  try {
    const out = await run();
    log(`${name}: done in ${((performance.now() - startedMs) / 1000).toFixed(1)} s`);
    return out;
  } catch (error) {
    const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    log(`${name}: FAILED: ${message}`);
    problems.push({ part: name, message });
    missing[name] = message;
    return undefined;
  }
}

async function measureBundle(): Promise<BundleResult> {
  if (!hasEntry('edge')) throw new Error('functions/edge/handler.ts does not exist yet');
  const built = await buildFunction({ name: 'edge', config: projectConfig, sourcemap: false });
  return { bytes: built.bytes, zippedBytes: built.zippedBytes };
}

/** Runs the parts `args` selects and writes the report. */
export async function runBench(args: BenchArgs, command: string): Promise<BenchReport> {
  const startedMs = performance.now();
  const problems: { part: string; message: string }[] = [];
  const missing: Record<string, string> = {};
  const { sizes, parts } = args;
  const want = (part: (typeof parts)[number]) => parts.includes(part);

  const bundle = args.costOnly ? undefined : await step('bundle', problems, missing, measureBundle);
  const decisionCost: DecisionCostResult | undefined = want('decision')
    ? await step('decision', problems, missing, () => measureDecisionCost(sizes.decisionCost))
    : undefined;
  // End to end first, while this process's heap and JIT hold nothing else: its
  // servers run here, and the other parts leave garbage and warm code behind.
  const endToEnd: EndToEndResult | undefined = want('e2e')
    ? await step('e2e', problems, missing, () => measureEndToEnd(sizes.endToEnd))
    : undefined;
  const edgeClient: EdgeClientResult | undefined = want('edge-client')
    ? await step('edge-client', problems, missing, () =>
        measureEdgeClient({ ...sizes.edgeClient, floors: true }),
      )
    : undefined;
  const storeTraffic: StoreTrafficResult | undefined = want('traffic')
    ? await step('traffic', problems, missing, () => measureStoreTraffic(sizes.storeTraffic))
    : undefined;
  const accuracy: AccuracyResult | undefined = want('accuracy')
    ? await step('accuracy', problems, missing, () => measureAccuracy(sizes.accuracy))
    : undefined;
  const scale: ScaleResult | undefined = want('scale')
    ? await step('scale', problems, missing, () => measureScale(sizes.scale))
    : undefined;
  const cost: CostResult | undefined = want('cost')
    ? await step('cost', problems, missing, () => measureCost(sizes.cost))
    : undefined;

  const edgeLatency: EdgeLatencyResult | undefined = want('edge')
    ? await step('edge', problems, missing, () =>
        measureEdgeLatency(sizes.edgeLatency, projectConfig, REGIONAL_EDGE_CACHE_REGIONS),
      )
    : undefined;

  const severalLimits: SeveralLimitsResult | undefined = want('limits')
    ? await step('limits', problems, missing, () => measureSeveralLimits(sizes.severalLimits))
    : undefined;

  const escrow: EscrowBenchResult | undefined = want('escrow')
    ? await step('escrow', problems, missing, () => measureEscrow(sizes.escrow))
    : undefined;

  const report: BenchReport = {
    meta: {
      generatedAt: new Date().toISOString(),
      profile: sizes.profile,
      command,
      machine: machineInfo(),
      durationSeconds: (performance.now() - startedMs) / 1000,
    },
    ...(decisionCost ? { decisionCost } : {}),
    ...(storeTraffic ? { storeTraffic } : {}),
    ...(endToEnd ? { endToEnd } : {}),
    ...(accuracy ? { accuracy } : {}),
    ...(scale ? { scale } : {}),
    ...(cost ? { cost } : {}),
    ...(bundle ? { bundle } : {}),
    ...(edgeClient ? { edgeClient } : {}),
    ...(edgeLatency ? { edgeLatency } : {}),
    ...(severalLimits ? { severalLimits } : {}),
    ...(escrow ? { escrow } : {}),
    targets: evaluateTargets({
      ...(storeTraffic ? { storeTraffic } : {}),
      ...(endToEnd ? { endToEnd } : {}),
      ...(bundle ? { bundle } : {}),
      ...(edgeClient ? { edgeClient } : {}),
      ...(cost ? { cost } : {}),
      ...(edgeLatency ? { edgeLatency } : {}),
      missing,
    }),
    problems,
  };
  if (args.costOnly && cost !== undefined) process.stdout.write(`${renderCost(cost, '## Cost')}\n`);
  if (args.outDir === undefined) return report;
  mkdirSync(args.outDir, { recursive: true });
  writeFileSync(join(args.outDir, 'report.md'), renderReport(report));
  writeFileSync(join(args.outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${join(args.outDir, 'report.md')} and report.json`);
  return report;
}

async function main(): Promise<void> {
  let args: BenchArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof BenchUsageError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const argv = process.argv.slice(2);
  const command = argv.length === 0 ? 'npm run bench' : `npm run bench -- ${argv.join(' ')}`;
  const report = await runBench(args, command);
  const isDefaultFullRun =
    args.sizes.profile === 'full' &&
    args.outDir === REPORT_DIR &&
    args.parts.length === PARTS.length &&
    report.problems.length === 0;
  if (isDefaultFullRun) writePerformanceDoc(report);
  process.exit(report.problems.length === 0 ? 0 : 1);
}

if (process.argv[1]?.endsWith('run.ts')) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}
