/** The cost section: one column per variant, the default's arithmetic, the verdict, comparisons and dated prices. */
import { describe, expect, it } from 'vitest';
import { COST_PARTS } from '../../bench/cost-model';
import {
  COST_TARGET_USD_PER_MILLION,
  headersCost,
  renderCost,
  systemLogsInfoCost,
} from '../../bench/cost-report';
import type { CostCase } from '../../bench/cost-variants';
import { costResult } from './fixtures';

describe('renderCost', () => {
  const result = costResult();
  const text = renderCost(result);

  it('has a row per part and a column per variant, with totals', () => {
    const header = text.split('\n').find((l) => l.startsWith('| part | default'));
    expect(header).toBe('| part | default | headers-on |');
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
    expect(def).toBeLessThanOrEqual(COST_TARGET_USD_PER_MILLION);
    expect(text).toContain(
      `for the default config (as shipped) with 3 replicas: met ($${def.toFixed(3)} per request`,
    );
    const headers = headersCost(result) ?? Number.NaN;
    // The viewer-response function: $0.60 of requests, 1 ms at 128 MB, its output.
    expect(headers).toBeGreaterThan(0.6);
    expect(text).toContain(
      `What the RateLimit headers of admitted responses cost: $${headers.toFixed(3)} per million admitted requests with \`clientHeaders: 'viewer-response'\``,
    );
    // The same run with the function and Lambda's records at INFO misses.
    const dear = costResult(10, true, 'INFO');
    const dearTotal = dear.cases[0]?.breakdown.perRequestUsdPerMillion ?? 0;
    expect(dearTotal).toBeGreaterThan(COST_TARGET_USD_PER_MILLION);
    expect(renderCost(dear)).toContain(
      `with 3 replicas: missed ($${dearTotal.toFixed(3)} per request`,
    );
  });

  it("prices Lambda's own records at INFO from the default run, and says nothing when it ran at INFO", () => {
    // 1,000 viewer-request invocations per 1,000 admitted × (254 B + 3 × 26 B) = 332 B each.
    const perFunction = 332 * (1e6 / 2 ** 30) * 0.5;
    expect(systemLogsInfoCost(result)).toBeCloseTo(perFunction, 9);
    expect(text).toContain(
      `What Lambda's own START/END/REPORT records would cost: $${perFunction.toFixed(3)} per million admitted requests with \`edgeSystemLogLevel: 'INFO'\``,
    );
    // Both functions' records when the default runs the viewer-response function too.
    expect(systemLogsInfoCost(costResult(10, true))).toBeCloseTo(2 * perFunction, 9);
    const atInfo = costResult(10, false, 'INFO');
    expect(systemLogsInfoCost(atInfo)).toBeCloseTo(0, 12);
    expect(renderCost(atInfo)).not.toContain(
      "What Lambda's own START/END/REPORT records would cost",
    );
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

  it('prices the headers from the headers-on run alone: the viewer-response function and its log lines', () => {
    // 1,000 invocations per 1,000 admitted: $0.60, 1 ms at 128 MB, 5,260 B of output each; no Lambda records at WARN.
    const atWarn = 0.6 + 0.125 * 0.00005001 * 1000 + ((5000 + 260) / 1000) * (1e6 / 2 ** 30) * 0.5;
    expect(headersCost(result)).toBeCloseTo(atWarn, 9);
    // At INFO, Lambda's 332 B of records per invocation of the function on top.
    const atInfo = atWarn + 332 * (1e6 / 2 ** 30) * 0.5;
    expect(headersCost(costResult(10, false, 'INFO'))).toBeCloseTo(atInfo, 9);
    // Not from the default run, even when it runs the function.
    const defaultOnly = { ...result, cases: [costResult(10, true).cases[0] as CostCase] };
    expect(headersCost(defaultOnly)).toBeUndefined();
    expect(renderCost(defaultOnly)).not.toContain('What the RateLimit headers');
  });
});
