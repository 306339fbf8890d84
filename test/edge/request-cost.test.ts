import type { CloudFrontHeaders, CloudFrontRequest } from 'aws-lambda';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CostConfig } from '../../functions/config/schema';
import { type CostInput, costOf } from '../../functions/edge/request-cost';

function req(
  method: string,
  lines: Record<string, string | string[]> = {},
  body?: CloudFrontRequest['body'],
): CostInput {
  const headers: CloudFrontHeaders = {};
  for (const [name, value] of Object.entries(lines)) {
    headers[name] = (Array.isArray(value) ? value : [value]).map((v) => ({ key: name, value: v }));
  }
  return body === undefined ? { method, headers } : { method, headers, body };
}

const bodyCost: CostConfig = { bodyBytesPerToken: 1000, minTokens: 1, maxTokens: 10 };

describe('costOf: fixed and per method', () => {
  it('defaults to one token', () => {
    expect(costOf(undefined, req('GET')).costTokens).toBe(1);
  });

  it('uses a fixed cost', () => {
    expect(costOf({ fixed: 3 }, req('DELETE')).costTokens).toBe(3);
  });

  it('uses the method cost, else the default', () => {
    const cost: CostConfig = { perMethod: { POST: 5, GET: 1 }, default: 2 };
    expect(costOf(cost, req('POST'))).toEqual({ costTokens: 5, basis: 'method' });
    expect(costOf(cost, req('GET'))).toEqual({ costTokens: 1, basis: 'method' });
    expect(costOf(cost, req('PATCH'))).toEqual({ costTokens: 2, basis: 'method-default' });
    // Inherited object keys are not methods.
    expect(costOf(cost, req('constructor'))).toEqual({ costTokens: 2, basis: 'method-default' });
  });
});

describe('costOf: body size', () => {
  it.each([
    ['0 bytes', '0', 1, 'declared-length'],
    ['1 byte', '1', 1, 'declared-length'],
    ['just over one token', '1001', 2, 'declared-length'],
    ['exactly 3 tokens', '3000', 3, 'declared-length'],
    ['above the max', '99999999', 10, 'declared-length'],
    ['leading zeros', '0002000', 2, 'declared-length'],
  ] as const)('content-length %s → %i', (_name, length, tokens, basis) => {
    expect(costOf(bodyCost, req('POST', { 'content-length': length }))).toEqual({
      costTokens: tokens,
      basis,
    });
  });

  it.each([
    ['negative', '-5'],
    ['non-numeric', 'lots'],
    ['fractional', '10.5'],
    ['hex', '0x10'],
    ['empty', ''],
    ['beyond safe integers', '99999999999999999999999'],
    ['exponent', '1e3'],
  ])('a %s content-length costs the maximum', (_name, length) => {
    expect(costOf(bodyCost, req('POST', { 'content-length': length }))).toEqual({
      costTokens: 10,
      basis: 'malformed-length',
    });
  });

  it('conflicting content-length lines cost the maximum; identical ones count once', () => {
    expect(costOf(bodyCost, req('PUT', { 'content-length': ['10', '5000'] })).costTokens).toBe(10);
    expect(costOf(bodyCost, req('PUT', { 'content-length': ['5000', '5000'] })).costTokens).toBe(5);
  });

  it('a request without a declared size costs the minimum unless it carries a body', () => {
    expect(costOf(bodyCost, req('GET'))).toEqual({ costTokens: 1, basis: 'no-body' });
    expect(costOf(bodyCost, req('DELETE'))).toEqual({ costTokens: 1, basis: 'no-body' });
    expect(costOf(bodyCost, req('POST'))).toEqual({ costTokens: 10, basis: 'unknown-length' });
    expect(costOf(bodyCost, req('GET', { 'transfer-encoding': 'chunked' }))).toEqual({
      costTokens: 10,
      basis: 'unknown-length',
    });
  });

  it('a content-length below the body CloudFront shows costs the observed size', () => {
    const body = {
      action: 'read-only',
      data: 'x'.repeat(4500),
      encoding: 'text',
      inputTruncated: false,
    } as const;
    expect(costOf(bodyCost, req('POST', { 'content-length': '10' }, body))).toEqual({
      costTokens: 5,
      basis: 'observed-body',
    });
    const b64 = {
      ...body,
      data: Buffer.alloc(2500).toString('base64'),
      encoding: 'base64',
    } as const;
    expect(costOf(bodyCost, req('POST', { 'content-length': '1' }, b64)).costTokens).toBe(3);
  });

  it('a truncated body with no declared size costs the maximum; with a larger declared size, the declaration', () => {
    const truncated = {
      action: 'read-only',
      data: 'x'.repeat(100),
      encoding: 'text',
      inputTruncated: true,
    } as const;
    expect(costOf(bodyCost, req('POST', {}, truncated)).costTokens).toBe(10);
    expect(costOf(bodyCost, req('POST', { 'content-length': '7000' }, truncated)).costTokens).toBe(
      7,
    );
  });

  it('always lands in [minTokens, maxTokens], whatever the header says', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.bigInt().map(String), fc.nat().map(String)),
        fc.constantFrom('GET', 'POST', 'PUT', 'HEAD'),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 5, max: 50 }),
        (length, method, minTokens, maxTokens) => {
          const cost = costOf(
            { bodyBytesPerToken: 64, minTokens, maxTokens },
            req(method, { 'content-length': length }),
          );
          expect(Number.isInteger(cost.costTokens)).toBe(true);
          expect(cost.costTokens).toBeGreaterThanOrEqual(minTokens);
          expect(cost.costTokens).toBeLessThanOrEqual(maxTokens);
        },
      ),
      { numRuns: 300 },
    );
  });
});
