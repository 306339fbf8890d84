import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORIGIN_HEADERS } from '../../functions/edge/responses';
import { type LocalHandle, startLocal } from '../../local/runtime';
import { type EdgeAnswer, e2eConfig, edgeGet, policyOf, sleep } from './harness';

/**
 * One region through HTTP: the bundled edge handler behind the local
 * CloudFront, the echo origin behind it. Every request is a real viewer
 * request; the assertions are what a client and the origin observe.
 */
describe('one region, through the edge', () => {
  let local: LocalHandle;
  const region = 'us-east-1';

  beforeAll(async () => {
    local = await startLocal({
      config: e2eConfig(['us-east-1', 'eu-west-1']),
      lagMs: 200,
      reconcileEveryMs: 0,
    });
  });
  afterAll(() => local?.stop());

  const burst = async (path: string, key: string, count: number): Promise<EdgeAnswer[]> => {
    const answers: EdgeAnswer[] = [];
    for (let i = 0; i < count; i++) answers.push(await edgeGet(local, region, path, key));
    return answers;
  };

  it('lets a full bucket through, refuses the rest with 429, and admits again after Retry-After', async () => {
    const demo = policyOf(local.config, 'demo');
    const originBefore = local.originRequests() as number;
    const answers = await burst('/demo/hello', 'e2e-burst', 15);
    const elapsedMs = (answers.at(-1)?.doneAtMs ?? 0) - (answers[0]?.sentAtMs ?? 0);
    const refillTokens = Math.floor((elapsedMs / 1000) * demo.refillTokens);

    const allowed = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    expect(allowed.length + refused.length).toBe(15);
    expect(allowed.length).toBeGreaterThanOrEqual(demo.capacityTokens);
    expect(allowed.length).toBeLessThanOrEqual(demo.capacityTokens + refillTokens);
    // Only admitted requests reached the origin, and every one of them did.
    expect((local.originRequests() as number) - originBefore).toBe(allowed.length);
    expect(allowed.every((a) => a.echo !== undefined)).toBe(true);
    expect(refused.every((a) => a.echo === undefined)).toBe(true);
    // The first refusal comes right after the capacity is used up.
    expect(answers.findIndex((a) => a.status === 429)).toBe(allowed.length);

    for (const [i, a] of allowed.entries()) {
      expect(a.headers.get('ratelimit-policy')).toBe(
        `"demo";q=${demo.capacityTokens};w=${demo.capacityTokens / demo.refillTokens}`,
      );
      const remaining = Number(
        /^"demo";r=(\d+);t=\d+$/.exec(a.headers.get('ratelimit') ?? '')?.[1],
      );
      // Each admission takes one token; refill during the burst may give some back.
      expect(remaining).toBeGreaterThanOrEqual(demo.capacityTokens - 1 - i);
      expect(remaining).toBeLessThanOrEqual(demo.capacityTokens - 1 - i + refillTokens);
      expect(a.echo?.rateLimitHeaders[ORIGIN_HEADERS.remaining]).toBe(String(remaining));
      expect(a.echo?.rateLimitHeaders[ORIGIN_HEADERS.fallback]).toBeUndefined();
    }
    for (const r of refused) {
      const retryAfter = Number(r.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(1 / demo.refillTokens);
      expect(r.headers.get('ratelimit')).toMatch(/^"demo";r=0;t=\d+$/);
      expect(r.headers.get('ratelimit-policy')).toBe(allowed[0]?.headers.get('ratelimit-policy'));
      expect(r.headers.get('x-cache')).toBe('LambdaGeneratedResponse from cloudfront');
    }

    const waitSeconds = Number(refused.at(-1)?.headers.get('retry-after'));
    await sleep(waitSeconds * 1000 + 50);
    const again = await edgeGet(local, region, '/demo/hello', 'e2e-burst');
    expect(again.status).toBe(200);
    expect(again.headers.get('ratelimit')).toMatch(/^"demo";r=0;t=\d+$/);
    const immediately = await edgeGet(local, region, '/demo/hello', 'e2e-burst');
    expect(immediately.status).toBe(429);

    const counters = local.counters(region);
    expect(counters.allowed).toBeGreaterThanOrEqual(allowed.length + 1);
    expect(counters.refused).toBeGreaterThanOrEqual(refused.length + 1);
    expect(counters.fallbacks).toBe(0);
  });

  it('keys by client IP when the key header is missing', async () => {
    const answers: EdgeAnswer[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${local.edgeUrls[region]}/demo/ip`);
      answers.push({
        status: res.status,
        headers: res.headers,
        text: await res.text(),
        echo: undefined,
        sentAtMs: 0,
        doneAtMs: 0,
      });
    }
    const remaining = answers.map((a) =>
      Number(/;r=(\d+);/.exec(a.headers.get('ratelimit') ?? '')?.[1]),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // One bucket for all three (the loopback address): remaining goes down by one each time.
    expect(remaining[1]).toBe((remaining[0] as number) - 1);
    expect(remaining[2]).toBe((remaining[0] as number) - 2);
  });

  it('never blocks in shadow mode, tells the origin what it would have done, and hides it from clients', async () => {
    const shadow = policyOf(local.config, 'shadow');
    const answers = await burst('/shadow/x', 'e2e-shadow', 15);
    expect(answers.map((a) => a.status)).toEqual(new Array(15).fill(200));
    const verdicts = answers.map((a) => a.echo?.rateLimitHeaders[ORIGIN_HEADERS.shadow]);
    const wouldRefuse = verdicts.filter((v) => v === 'would-refuse').length;
    expect(verdicts.slice(0, shadow.capacityTokens)).toEqual(
      new Array(shadow.capacityTokens).fill('would-allow'),
    );
    expect(wouldRefuse).toBeGreaterThanOrEqual(1);
    expect(wouldRefuse).toBe(15 - verdicts.filter((v) => v === 'would-allow').length);
    for (const a of answers) {
      expect(a.headers.get('ratelimit')).toBeNull();
      expect(a.headers.get('retry-after')).toBeNull();
    }
  });

  it('strips rate-limit headers a client forges for the origin', async () => {
    const res = await fetch(`${local.edgeUrls[region]}/demo/forged`, {
      headers: { 'x-api-key': 'e2e-forger', 'x-ratelimit-remaining': '999' },
    });
    const echo = (await res.json()) as { rateLimitHeaders: Record<string, string> };
    expect(echo.rateLimitHeaders[ORIGIN_HEADERS.remaining]).toBe('9');
  });
});
