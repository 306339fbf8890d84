import { describe, expect, it } from 'vitest';
import { readmeSection } from '../../bench/readme-section';
import { num, renderReport, table, times } from '../../bench/report';
import { evaluateTargets } from '../../bench/targets';
import { goodEndToEnd, goodTraffic, report } from './fixtures';

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

  it('contains no absolute path of the machine', () => {
    expect(md).not.toMatch(/\/(work|home|tmp|Users)\//);
  });
});

describe('readmeSection', () => {
  it('gives the command, the machine, the targets and the headline figures', () => {
    const targets = evaluateTargets({ storeTraffic: goodTraffic(), endToEnd: goodEndToEnd() });
    const section = readmeSection(report({ targets }));
    expect(section.startsWith('## Performance\n')).toBe(true);
    expect(section).toContain('`npm run bench`');
    expect(section).toContain('Test CPU');
    expect(section).toContain('with 10-token leases');
    expect(section).toContain('end to end, refused-heavy');
    expect(section).toContain('end to end, allowed-cold');
  });
});
