import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORIGIN_HEADERS } from '../../functions/edge/responses';
import { type LocalHandle, startLocal } from '../../local/runtime';
import {
  type EdgeAnswer,
  e2eConfig,
  edgeGet,
  memberOf,
  policiesOf,
  policyOf,
  sleep,
  VIEWER_IP_HEADER,
} from './harness';

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
      // The RateLimit headers of admitted responses are off by default; these tests read them.
      config: { ...e2eConfig(['us-east-1', 'eu-west-1']), clientHeaders: 'viewer-response' },
      lagMs: 200,
      reconcileEveryMs: 0,
      // Each test plays its own viewer: the shipped rules also limit per client IP.
      viewerIpHeader: VIEWER_IP_HEADER,
    });
  });
  afterAll(() => local?.stop());

  /** Requests one after the other until the first 429 (or `max` requests). */
  const untilRefused = async (
    path: string,
    key: string | ((i: number) => string),
    max: number,
    viewerIp: string,
  ): Promise<EdgeAnswer[]> => {
    const answers: EdgeAnswer[] = [];
    while (answers.length < max && answers.at(-1)?.status !== 429) {
      const k = typeof key === 'string' ? key : key(answers.length);
      answers.push(await edgeGet(local, region, path, k, viewerIp));
    }
    return answers;
  };
  /** Remaining tokens of `demo` in a `RateLimit` list (`"demo";r=N;t=S, ...`). */
  const remainingOf = (a: EdgeAnswer, policy = 'demo') =>
    Number(
      /^"[a-z-]+";r=(\d+);t=\d+$/.exec(memberOf(a.headers.get('ratelimit'), policy) ?? '')?.[1],
    );

  // Every bound below is measured around the requests it is about: refill
  // adds R tokens per second of the time that really passed, so a slow
  // machine admits more, never fewer, and the bounds hold at any speed.
  it('lets a full bucket through, refuses the rest with 429, and admits again after Retry-After', async () => {
    const demo = policyOf(local.config, 'demo');
    const capacity = demo.capacityTokens;
    const perSecond = demo.refillTokens / ((demo.refillIntervalMs ?? 1000) / 1000);
    const originBefore = local.originRequests() as number;
    const answers = await untilRefused('/demo/hello', 'e2e-burst', capacity + 50, '192.0.2.1');
    const first = answers[0] as EdgeAnswer;
    const refillUpTo = (a: EdgeAnswer) => (perSecond * (a.doneAtMs - first.sentAtMs)) / 1000;
    const refused = answers.at(-1) as EdgeAnswer;
    const allowed = answers.slice(0, -1);
    expect(refused.status, `no 429 in ${answers.length} requests`).toBe(429);
    expect(allowed.every((a) => a.status === 200)).toBe(true);

    // The bucket starts full: the first `capacity` requests are admitted,
    // and no more than capacity + the refill while they ran.
    expect(allowed.length).toBeGreaterThanOrEqual(capacity);
    expect(allowed.length).toBeLessThanOrEqual(capacity + refillUpTo(refused));
    // Only admitted requests reached the origin, and every one of them did.
    expect((local.originRequests() as number) - originBefore).toBe(allowed.length);
    expect(allowed.every((a) => a.echo !== undefined)).toBe(true);
    expect(refused.echo).toBeUndefined();

    for (const [i, a] of allowed.entries()) {
      expect(memberOf(a.headers.get('ratelimit-policy'), 'demo')).toBe(
        `"demo";q=${capacity};w=${capacity / demo.refillTokens}`,
      );
      // Each admission takes one token; refill since the first may give some back.
      const remaining = remainingOf(a);
      expect(remaining).toBeGreaterThanOrEqual(Math.max(0, capacity - 1 - i));
      expect(remaining).toBeLessThanOrEqual(capacity - 1 - i + refillUpTo(a));
      // The origin got the same state the client did.
      expect(a.echo?.rateLimitHeaders[ORIGIN_HEADERS.state]).toBe(a.headers.get('ratelimit'));
      expect(a.echo?.rateLimitHeaders[ORIGIN_HEADERS.fallback]).toBeUndefined();
    }
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil(1 / perSecond));
    expect(memberOf(refused.headers.get('ratelimit'), 'demo')).toMatch(/^"demo";r=0;t=\d+$/);
    expect(JSON.parse(refused.text)).toMatchObject({ policy: 'demo' });
    expect(refused.headers.get('ratelimit-policy')).toBe(first.headers.get('ratelimit-policy'));
    expect(refused.headers.get('x-cache')).toBe('LambdaGeneratedResponse from cloudfront');

    // Retry-After was computed when the 429 was decided, before its answer
    // arrived: waiting that long after the answer, a token is there.
    await sleep(refused.doneAtMs + retryAfter * 1000 - Date.now());
    const again = await edgeGet(local, region, '/demo/hello', 'e2e-burst', '192.0.2.1');
    expect(again.status).toBe(200);
    // Less than one token was left at the refusal; what came back since then is at most R·elapsed.
    const sinceRefusedS = (again.doneAtMs - refused.sentAtMs) / 1000;
    const remainingAgain = remainingOf(again);
    expect(remainingAgain).toBeGreaterThanOrEqual(0);
    expect(remainingAgain).toBeLessThanOrEqual(perSecond * sinceRefusedS);
    // Back to back after it: at most what remained (below r + 1) plus the refill meanwhile.
    const after: EdgeAnswer[] = [];
    for (let i = 0; i < 3; i++)
      after.push(await edgeGet(local, region, '/demo/hello', 'e2e-burst', '192.0.2.1'));
    const lastAfter = after.at(-1) as EdgeAnswer;
    const admittedAfter = after.filter((a) => a.status === 200).length;
    expect(admittedAfter).toBeLessThan(
      remainingAgain + 1 + (perSecond * (lastAfter.doneAtMs - again.sentAtMs)) / 1000,
    );
    expect(after.slice(0, remainingAgain).every((a) => a.status === 200)).toBe(true);

    const counters = local.counters(region);
    expect(counters.allowed).toBeGreaterThanOrEqual(allowed.length + 1 + admittedAfter);
    expect(counters.refused).toBeGreaterThanOrEqual(1 + after.length - admittedAfter);
    expect(counters.fallbacks).toBe(0);
  });

  it('keys by client IP when the key header is missing', async () => {
    const demo = policyOf(local.config, 'demo');
    const answers: { status: number; remaining: number }[] = [];
    // Without the key every request lands in one bucket (the loopback
    // address's): it runs dry. Requests in buckets of their own never would.
    while (answers.length < demo.capacityTokens + 50 && answers.at(-1)?.status !== 429) {
      const res = await fetch(`${local.edgeUrls[region]}/demo/ip`, {
        headers: { [VIEWER_IP_HEADER]: '192.0.2.2' },
      });
      await res.text();
      const demoState = memberOf(res.headers.get('ratelimit'), 'demo');
      const remaining = Number(/;r=(\d+);/.exec(demoState ?? '')?.[1]);
      answers.push({ status: res.status, remaining });
    }
    expect(answers.at(-1)?.status).toBe(429);
    expect(answers.slice(0, demo.capacityTokens).every((a) => a.status === 200)).toBe(true);
    expect(answers[0]?.remaining).toBe(demo.capacityTokens - 1);
  });

  it('never blocks in shadow mode, tells the origin what it would have done, and hides it from clients', async () => {
    const shadow = policyOf(local.config, 'shadow');
    const answers: EdgeAnswer[] = [];
    const verdictOf = (a: EdgeAnswer) => a.echo?.rateLimitHeaders[ORIGIN_HEADERS.shadow];
    while (
      answers.length < shadow.capacityTokens + 50 &&
      (answers.length === 0 || verdictOf(answers.at(-1) as EdgeAnswer) !== 'would-refuse')
    ) {
      answers.push(await edgeGet(local, region, '/shadow/x', 'e2e-shadow', '192.0.2.3'));
    }
    expect(answers.map((a) => a.status)).toEqual(new Array(answers.length).fill(200));
    const verdicts = answers.map(verdictOf);
    expect(verdicts.at(-1), `no would-refuse in ${answers.length} requests`).toBe('would-refuse');
    expect(verdicts.slice(0, shadow.capacityTokens)).toEqual(
      new Array(shadow.capacityTokens).fill('would-allow'),
    );
    for (const v of verdicts) expect(['would-allow', 'would-refuse']).toContain(v);
    for (const a of answers) {
      expect(a.headers.get('ratelimit')).toBeNull();
      expect(a.headers.get('retry-after')).toBeNull();
    }
  });

  it('strips rate-limit headers a client forges for the origin', async () => {
    const res = await fetch(`${local.edgeUrls[region]}/demo/forged`, {
      headers: {
        'x-api-key': 'e2e-forger',
        'x-ratelimit-remaining': '999',
        'x-ratelimit-state': '"demo";r=999;t=0',
        [VIEWER_IP_HEADER]: '192.0.2.4',
      },
    });
    const echo = (await res.json()) as { rateLimitHeaders: Record<string, string> };
    expect(memberOf(echo.rateLimitHeaders[ORIGIN_HEADERS.state] ?? null, 'demo')).toBe(
      '"demo";r=9;t=0',
    );
    expect(Number(echo.rateLimitHeaders[ORIGIN_HEADERS.remaining])).toBeLessThan(999);
  });

  it('charges a /demo/ request to its three limits: the key, the client IP and the global cap', async () => {
    const a = await edgeGet(local, region, '/demo/three', 'e2e-three', '192.0.2.5');
    expect(a.status).toBe(200);
    expect(policiesOf(a.headers.get('ratelimit-policy'))).toEqual([
      'demo',
      'demo-ip',
      'global-cap',
    ]);
    expect(policiesOf(a.headers.get('ratelimit'))).toEqual(['demo', 'demo-ip', 'global-cap']);
    const ip = policyOf(local.config, 'demo-ip');
    expect(remainingOf(a, 'demo')).toBe(policyOf(local.config, 'demo').capacityTokens - 1);
    expect(remainingOf(a, 'demo-ip')).toBe(ip.capacityTokens - 1);
    expect(remainingOf(a, 'global-cap')).toBeLessThan(
      policyOf(local.config, 'global-cap').capacityTokens,
    );
  });

  it('refuses fresh keys from one IP once its IP limit is spent, in well under 300 requests', async () => {
    const ip = policyOf(local.config, 'demo-ip');
    const perSecond = ip.refillTokens / ((ip.refillIntervalMs ?? 1000) / 1000);
    const answers = await untilRefused('/demo/fresh', (i) => `e2e-fresh-${i}`, 300, '192.0.2.6');
    const refused = answers.at(-1) as EdgeAnswer;
    expect(refused.status, `no 429 in ${answers.length} requests`).toBe(429);
    // A new key every time: only the IP's bucket (and the global cap) ever ran low.
    const admitted = answers.length - 1;
    const elapsedS = (refused.doneAtMs - (answers[0] as EdgeAnswer).sentAtMs) / 1000;
    expect(admitted).toBeGreaterThanOrEqual(ip.capacityTokens);
    expect(admitted).toBeLessThanOrEqual(ip.capacityTokens + perSecond * elapsedS);
    expect(JSON.parse(refused.text)).toMatchObject({ error: 'rate_limited', policy: 'demo-ip' });
    expect(memberOf(refused.headers.get('ratelimit'), 'demo-ip')).toMatch(/^"demo-ip";r=0;t=\d+$/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The refused request's own key was not charged: its bucket is still full.
    const sameKey = await edgeGet(
      local,
      region,
      '/demo/fresh',
      `e2e-fresh-${admitted}`,
      '192.0.2.7',
    );
    expect(remainingOf(sameKey, 'demo')).toBe(policyOf(local.config, 'demo').capacityTokens - 1);
  });
});
