/**
 * The README's performance section, generated from the latest full report so
 * that the figures quoted in the README are the ones in bench/results, with
 * the command and the machine they came from.
 */

import type { BenchReport } from './report';
import { machineLine, num, renderTargets, table, times } from './report';

/** Renders the README section (Markdown, starting with a level-2 heading). */
export function readmeSection(report: BenchReport): string {
  const m = report.meta;
  const lines: string[] = [
    '## Performance',
    '',
    `\`npm run bench\` runs every benchmark offline on loopback (a few minutes; \`npm run bench -- --quick\` is a smoke run under a minute) and writes [bench/results/report.md](bench/results/report.md) and \`report.json\`. Latest full run: ${m.generatedAt.slice(0, 10)}, ${num(m.durationSeconds)} s, on ${machineLine(m.machine)}: a shared machine, so compare ratios from one run, not absolute times.`,
    '',
    renderTargets(report.targets),
  ];
  const d = report.decisionCost;
  const three = d?.timings.find((t) => t.operation === 'decide' && t.slots === 3);
  const six = d?.timings.find((t) => t.operation === 'decide' && t.slots === 6);
  const traffic = report.storeTraffic;
  const row = (workload: string, variant: string) =>
    traffic?.cases.find((c) => c.workload === workload && c.variant === variant);
  const ref = traffic?.reference.find((c) => c.workload === 'allowed-heavy' && c.variant === 'rlf');
  const highlights: (string | number)[][] = [];
  if (three && six) {
    highlights.push([
      'core decision CPU time, median (p99)',
      `3 regions ${num(three.nanoseconds.median / 1000, 1)} µs (${num(three.nanoseconds.p99 / 1000, 1)} µs); 6 regions ${num(six.nanoseconds.median / 1000, 1)} µs (${num(six.nanoseconds.p99 / 1000, 1)} µs)`,
    ]);
  }
  const cached = row('allowed-heavy', 'view-cache');
  const leased = row('allowed-heavy', 'lease-10');
  if (cached && leased) {
    highlights.push([
      `DynamoDB cost per million admitted requests, ${traffic?.regions.length} replicas (${traffic?.priceSheet.region} on-demand, ${traffic?.priceSheet.effectiveDate} prices)`,
      `$${num(cached.cost.usdPerMillionDecisions, 2)} default, $${num(leased.cost.usdPerMillionDecisions, 2)} with 10-token leases${ref ? `; RateLimiterDynamo $${num(ref.cost.usdPerMillionDecisions, 2)}` : ''}`,
    ]);
  }
  for (const w of report.endToEnd?.workloads ?? []) {
    const p99 =
      w.equalLoad === undefined
        ? `p99 ${times(w.ratios.p99OursOverRlf)}`
        : `p99 ${times(w.equalLoad.p99OursOverRlf)} at an equal ${num(w.equalLoad.requestsPerSecond)} req/s`;
    highlights.push([
      `end to end, ${w.workload}: ours / RateLimiterDynamo`,
      `throughput ${times(w.ratios.throughputOursOverRlf)}, ${p99} (ours / no limiter: ${times(w.ratios.throughputOursOverNone)})`,
    ]);
  }
  if (highlights.length > 0) lines.push('', table(['measure', 'latest figure'], highlights));
  lines.push(
    '',
    "The report also has the simulator's accuracy tables against the peers (exact bucket, independent buckets, static split, PN-counter) and the scale sweeps (1–6 regions, 1–100,000 keys).",
  );
  return `${lines.join('\n')}\n`;
}
