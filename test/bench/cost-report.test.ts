/** The cost section: one column per variant, the default's arithmetic, the verdict, comparisons and dated prices. */
import { describe, expect, it } from 'vitest';
import { COST_PARTS } from '../../bench/cost-model';
import { COST_TARGET_USD_PER_MILLION, headersCost, renderCost } from '../../bench/cost-report';
import { costResult } from './fixtures';

describe('renderCost', () => {
  const result = costResult();
  const text = renderCost(result);

  it('has a row per part and a column per variant, with totals', () => {
    const header = text.split('\n').find((l) => l.startsWith('| part | default'));
    expect(header).toBe('| part | default | headers-off |');
    for (const part of result.cases[0]?.breakdown.parts ?? []) {
      expect(text).toContain(`| ${part.label} |`);
    }
    expect(result.cases[0]?.breakdown.parts).toHaveLength(COST_PARTS.length);
    const perRequest = result.cases.map(
      (c) => `**$${c.breakdown.perRequestUsdPerMillion.toFixed(3)}**`,
    );
    expect(text).toContain(`| **per request** | ${perRequest.join(' | ')} |`);
  });

  it('judges the default against the target and says what the headers cost', () => {
    const def = result.cases[0]?.breakdown.perRequestUsdPerMillion ?? 0;
    expect(def).toBeGreaterThan(COST_TARGET_USD_PER_MILLION);
    expect(text).toContain(`: missed ($${def.toFixed(3)} per request`);
    const headers = headersCost(result) ?? Number.NaN;
    // The viewer-response function: $0.60 of requests, 1 ms at 128 MB, its log lines.
    expect(headers).toBeGreaterThan(0.6);
    expect(text).toContain(`What the RateLimit headers cost: $${headers.toFixed(3)}`);
    const cheap = renderCost(costResult(10, false));
    expect(cheap).toMatch(/headers on: met \(/);
  });

  it('lists the comparison rows and every price with its source and date', () => {
    expect(text).toContain('| AWS WAF rate-based rule | ≈ $0.610 |');
    expect(text).toContain('| Amazon API Gateway usage plans (REST API) | ≈ $3.500 |');
    for (const label of [
      'Lambda@Edge requests: $0.6 per million requests',
      'Lambda@Edge duration: $0.00005001 per GB-second',
      'CloudWatch Logs ingestion: $0.5',
      'CloudWatch custom metrics: $0.3',
    ]) {
      expect(text).toContain(label);
    }
    expect(text).toMatch(/recorded \d{4}-\d{2}-\d{2}/);
    expect(text).toContain('DynamoDB (us-east-1, on-demand, effective 2024-11-01)');
  });

  it('renders a table row with as many cells as its header', () => {
    for (const block of text.split('\n\n')) {
      const rows = block.split('\n').filter((l) => l.startsWith('|'));
      if (rows.length === 0) continue;
      const cells = (row: string) => row.split(' | ').length;
      for (const row of rows.slice(2)) expect(cells(row), row).toBe(cells(rows[0] as string));
    }
  });

  it('prices the headers from the default run alone: the viewer-response function and its log lines', () => {
    // 1,000 invocations per 1,000 admitted: $0.60, 1 ms at 128 MB, 5,260 B of output and 332 B of Lambda lines each.
    const expected =
      0.6 + 0.125 * 0.00005001 * 1000 + ((5000 + 260) / 1000 + 332) * (1e6 / 2 ** 30) * 0.5;
    expect(headersCost(result)).toBeCloseTo(expected, 9);
    const without = costResult(10, false);
    expect(headersCost(without)).toBeUndefined();
    expect(renderCost(without)).not.toContain('What the RateLimit headers cost');
  });
});
