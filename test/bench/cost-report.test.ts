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

  it('has no headers cost without both variants', () => {
    const only = { ...result, cases: result.cases.slice(0, 1) };
    expect(headersCost(only)).toBeUndefined();
    expect(renderCost(only)).not.toContain('What the RateLimit headers cost');
  });
});
