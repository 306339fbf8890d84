import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  GENERATED_BEGIN,
  GENERATED_END,
  GeneratedSectionError,
  generatedPartOf,
  PERFORMANCE_DOC,
  performanceSection,
  REPORT_JSON,
  withGeneratedSection,
} from '../../bench/performance-section';
import type { BenchReport } from '../../bench/report';
import { num, renderReport, table, times } from '../../bench/report';
import { evaluateTargets } from '../../bench/targets';
import { goodEdgeClient, goodEdgeLatency, goodEndToEnd, goodTraffic, report } from './fixtures';

describe('formatting', () => {
  it('formats numbers, ratios and missing values', () => {
    expect(num(1234.567, 1)).toBe('1,234.6');
    expect(num(undefined)).toBe('—');
    expect(num(Number.NaN)).toBe('—');
    expect(times(1.5)).toBe('×1.50');
    expect(times(undefined)).toBe('—');
  });

  it('builds a Markdown table and escapes pipes in cells', () => {
    expect(table(['a', 'b'], [[1, 'x|y']])).toBe('| a | b |\n|---|---|\n| 1 | x\\|y |');
  });

  it('refuses a row whose cells do not match the columns', () => {
    expect(() => table(['a', 'b'], [[1, 2, 3]])).toThrow(RangeError);
  });
});

describe('renderReport', () => {
  const targets = evaluateTargets({ storeTraffic: goodTraffic(), endToEnd: goodEndToEnd() });
  const md = renderReport(report({ targets }));

  it('states the command, the profile and the machine', () => {
    expect(md).toContain('`npm run bench -- --quick` (quick profile)');
    expect(md).toContain('Node v20.0.0, Test CPU, 2 cores, 4.0 GiB RAM');
  });

  it('lists every target with its verdict', () => {
    expect(md).toContain('## Targets');
    expect(md).toContain('✅ met');
    expect(md).toContain('⚪ not measured');
    for (const t of targets) expect(md).toContain(t.goal);
  });

  it('shows the cost per million decisions and the dated prices', () => {
    // 1,000 writes of 1 WRU on 3 replicas + 5 RRU per 1,000 decisions.
    const expected = ((3000 * 0.625 + 5 * 0.125) / 1e6 / 1000) * 1e6;
    expect(md).toContain(`$${num(expected, 3)}`);
    expect(md).toContain('effective 2024-11-01');
  });

  it('renders every end-to-end table with one cell per column', () => {
    expect(md).toContain('| bytes / response |');
    expect(md).toContain('At an equal offered load of 800 req/s');
  });

  it('shows the end-to-end ratios of the same run', () => {
    expect(md).toContain('Ours / RateLimiterDynamo: throughput ×1.50, p99 ×0.75');
    expect(md).toContain('Ours / RateLimiterDynamo: throughput ×8.00');
  });

  it('renders only the parts that ran, and lists the ones that did not', () => {
    expect(md).not.toContain('## 1. Decision cost');
    expect(md).not.toContain('## 5. Scale');
    const failed = renderReport(report({ problems: [{ part: 'e2e', message: 'no handler' }] }));
    expect(failed).toContain('## Parts not measured\n\n- e2e: no handler');
  });

  it('renders the edge client section side by side, with the ratios of the run', () => {
    const out = renderReport(report({ edgeClient: goodEdgeClient() }));
    expect(out).toContain("## 6. The edge's DynamoDB client");
    expect(out).toContain('Light / SDK, this run: CPU ×0.25');
    expect(out).toContain('require ×0.25');
    // 100 µs of CPU at 128 MB: 100 × 1769 / 128 µs.
    expect(out).toContain(`| ${num((0.1 * 1769) / 128, 2)} |`);
    expect(md).not.toContain("## 6. The edge's DynamoDB client");
    expect(out).not.toContain('floor:');
  });

  it('sets the floors beside the two clients when they were measured', () => {
    const edgeClient = {
      ...goodEdgeClient(),
      floors: [
        {
          name: 'node-http-unsigned' as const,
          medianCpuMicrosPerDecision: 80,
          ratioToSdk: 0.2,
          storeCallsPerDecision: 2,
          admittedShare: 1,
        },
      ],
    };
    const out = renderReport(report({ edgeClient }));
    expect(out).toMatch(/\| floor: node-http-unsigned \| 80 \| +\| 2\.00 \|/);
    expect(out).toContain('Against the SDK client: node-http-unsigned ×0.20.');
  });

  it('renders the edge simulator table, one row per workload and region', () => {
    const out = renderReport(report({ edgeLatency: goodEdgeLatency() }));
    expect(out).toContain('## 8. The edge at real distances (simulator)');
    expect(out).toMatch(/\| busy-key +\| sa-east-1 +\| us-east-1 +\| +100\.0 \|/);
    expect(out).toMatch(/\| overload +\| sa-east-1 .*\| +20 \/ 190 \|/);
    expect(md).not.toContain('## 8. The edge at real distances');
  });

  it('contains no absolute path of the machine', () => {
    expect(md).not.toMatch(/\/(work|home|tmp|Users)\//);
  });
});

describe('performanceSection', () => {
  const targets = evaluateTargets({ storeTraffic: goodTraffic(), endToEnd: goodEndToEnd() });
  const section = performanceSection(report({ targets }));

  it('gives the command, the machine, the targets and the headline figures', () => {
    expect(section.startsWith('## Latest full run\n')).toBe(true);
    expect(section).toContain('`npm run bench`');
    expect(section).toContain('Test CPU');
    expect(section).toContain('with 10-token leases');
    expect(section).toContain('end to end, refused-heavy');
    expect(section).toContain('end to end, allowed-cold');
  });

  it('links the report relative to docs/, where it is written', () => {
    expect(section).toContain('](../bench/results/report.md)');
    expect(section).not.toContain('](bench/');
  });
});

describe('withGeneratedSection', () => {
  const doc = [
    '# Title',
    '',
    'Hand-written before.',
    '',
    GENERATED_BEGIN,
    '',
    'old figures',
    '',
    GENERATED_END,
    '',
    'Hand-written after.',
    '',
  ].join('\n');

  it('replaces only the text between the markers', () => {
    const out = withGeneratedSection(doc, '## New\n\nnew figures\n');
    expect(out).not.toContain('old figures');
    expect(out).toContain('new figures');
    const before = doc.slice(0, doc.indexOf(GENERATED_BEGIN) + GENERATED_BEGIN.length);
    const after = doc.slice(doc.indexOf(GENERATED_END));
    expect(out.startsWith(before)).toBe(true);
    expect(out.endsWith(after)).toBe(true);
  });

  it('is stable: writing the same section twice changes nothing', () => {
    const once = withGeneratedSection(doc, 'figures\n');
    expect(withGeneratedSection(once, 'figures\n')).toBe(once);
    expect(generatedPartOf(once)).toBe('figures\n');
  });

  it('refuses a document whose markers are missing, repeated or swapped', () => {
    const without = doc.replace(GENERATED_END, '');
    expect(() => withGeneratedSection(without, 'x')).toThrow(GeneratedSectionError);
    expect(() => withGeneratedSection(without, 'x')).toThrow(/END generated.*occurs 0 times/);
    const twice = `${doc}\n${GENERATED_BEGIN}\n`;
    expect(() => withGeneratedSection(twice, 'x')).toThrow(/occurs 2 times/);
    const swapped = `${GENERATED_END}\n${GENERATED_BEGIN}\n`;
    expect(() => withGeneratedSection(swapped, 'x')).toThrow(/END marker comes before BEGIN/);
  });
});

describe(PERFORMANCE_DOC, () => {
  const root = path.resolve(import.meta.dirname, '..', '..');
  it(`holds exactly the rendering of ${REPORT_JSON} between its markers`, () => {
    const doc = readFileSync(path.join(root, PERFORMANCE_DOC), 'utf8');
    const committed = JSON.parse(readFileSync(path.join(root, REPORT_JSON), 'utf8')) as BenchReport;
    expect(
      generatedPartOf(doc),
      `${PERFORMANCE_DOC} is out of step with ${REPORT_JSON}: run \`npx tsx bench/performance-section.ts\` (or, if a quick run overwrote the report, \`git checkout bench/results\`)`,
    ).toBe(performanceSection(committed));
  });
});
