import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ORIGIN_HEADERS } from '../../functions/edge/responses';
import { type LocalHandle, startLocal } from '../../local/runtime';
import { type EdgeAnswer, e2eConfig, edgeGet, peek, policyOf, sleep } from './harness';

const REGIONS = ['us-east-1', 'eu-west-1'];
const DOWN = 'us-east-1';
const UP = 'eu-west-1';
/** Short enough that a hanging store costs little test time, long enough for a loaded machine. */
const STORE_BUDGET_MS = 600;
/**
 * After failures in a row the edge's store guard leaves the store alone and
 * probes it again after 0.25 s, doubling while probes fail (up to 5 s): a
 * test waits for the store to decide again, with this deadline.
 */
const RECOVERY_DEADLINE_MS = 20_000;

/**
 * What each policy does when its region's store is unavailable, seen through
 * HTTP: the emulated store answers 500 to everything (or never answers), and
 * the edge must still answer every viewer, as the policy's onStoreError says.
 */
describe('store failures, through the edge', () => {
  let local: LocalHandle;

  beforeAll(async () => {
    local = await startLocal({
      config: e2eConfig(REGIONS, STORE_BUDGET_MS),
      lagMs: 50,
      reconcileEveryMs: 0,
    });
  });
  afterAll(() => local?.stop());
  /** Asks until the store decides again (no fallback header): the guard's probe succeeded. */
  const untilStoreDecides = async (path: string, key: string) => {
    const deadline = Date.now() + RECOVERY_DEADLINE_MS;
    for (;;) {
      const answer = await edgeGet(local, DOWN, path, key);
      const decidedByStore =
        answer.status !== 503 &&
        answer.echo?.rateLimitHeaders[ORIGIN_HEADERS.fallback] === undefined;
      if (decidedByStore && answer.status !== 429) return answer;
      if (Date.now() > deadline) throw new Error(`the store did not decide ${path} again in time`);
      await sleep(50);
    }
  };

  beforeEach(async () => {
    local.setDown(DOWN, false);
    await untilStoreDecides('/demo/x', `e2e-warm-${Date.now()}`);
  });

  const burst = async (region: string, path: string, key: string, count: number) => {
    const answers: EdgeAnswer[] = [];
    for (let i = 0; i < count; i++) answers.push(await edgeGet(local, region, path, key));
    return answers;
  };

  it('open: admits everything and marks it for the origin, while the other region keeps limiting', async () => {
    const capacity = policyOf(local.config, 'fail-open').capacityTokens;
    const before = local.counters(DOWN).fallbacks;
    local.setDown(DOWN, true);
    const answers = await burst(DOWN, '/fail-open/x', 'e2e-open', capacity + 3);
    expect(answers.map((a) => a.status)).toEqual(new Array(capacity + 3).fill(200));
    for (const a of answers) {
      expect(a.echo?.rateLimitHeaders[ORIGIN_HEADERS.fallback]).toBe('open');
    }
    expect(local.counters(DOWN).fallbacks - before).toBe(capacity + 3);

    // Until the first refusal: requests come faster than the refill, however slow the machine.
    const elsewhere: EdgeAnswer[] = [];
    while (elsewhere.length < capacity + 50 && elsewhere.at(-1)?.status !== 429) {
      elsewhere.push(await edgeGet(local, UP, '/fail-open/x', 'e2e-open-up'));
    }
    expect(elsewhere.at(-1)?.status).toBe(429);
    expect(
      elsewhere.every((a) => a.echo?.rateLimitHeaders[ORIGIN_HEADERS.fallback] === undefined),
    ).toBe(true);
  });

  it('closed: answers 503 with Retry-After and never reaches the origin', async () => {
    local.setDown(DOWN, true);
    const originBefore = local.originRequests() as number;
    const fallbacksBefore = local.counters(DOWN).fallbacks;
    const answers = await burst(DOWN, '/fail-closed/x', 'e2e-closed', 3);
    for (const a of answers) {
      expect(a.status).toBe(503);
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(a.headers.get('x-cache')).toBe('LambdaGeneratedResponse from cloudfront');
    }
    expect(local.originRequests()).toBe(originBefore);
    expect(local.counters(DOWN).fallbacks - fallbacksBefore).toBe(3);

    local.setDown(DOWN, false);
    // Once the guard's probe reaches the store again, the store decides (200).
    expect((await untilStoreDecides('/fail-closed/x', 'e2e-closed')).status).toBe(200);
  });

  it('local: admits its share of the bucket alone, then writes what it admitted once the store is back', async () => {
    const policy = policyOf(local.config, 'fail-local');
    const share = Math.floor(policy.capacityTokens * (policy.localShare ?? 0.1));
    local.setDown(DOWN, true);
    const startMs = Date.now();
    const answers = await burst(DOWN, '/fail-local/x', 'e2e-local', share + 3);
    const admitted = answers.filter((a) => a.status === 200);
    // Its share of the capacity at once, then its share of the refill while the burst ran.
    const localRefill =
      (((answers.at(-1) as EdgeAnswer).doneAtMs - startMs) / 1000) *
      policy.refillTokens *
      (policy.localShare ?? 0.1);
    expect(answers.slice(0, share).every((a) => a.status === 200)).toBe(true);
    expect(admitted.length).toBeLessThanOrEqual(share + localRefill);
    expect(answers.filter((a) => a.status !== 200).every((a) => a.status === 429)).toBe(true);
    for (const a of admitted) {
      expect(a.echo?.rateLimitHeaders[ORIGIN_HEADERS.fallback]).toBe('local');
    }

    local.setDown(DOWN, false);
    // The first decision the store takes again admits, and the tokens admitted meanwhile
    // are written back in the background (no request for the key is needed for that).
    const next = await untilStoreDecides('/fail-local/x', 'e2e-local');
    expect(next.status).toBe(200);
    expect(next.echo?.rateLimitHeaders[ORIGIN_HEADERS.fallback]).toBeUndefined();
    await local.emulator.settle();
    await sleep(300);
    const refill = Math.ceil(((Date.now() - startMs) / 1000) * policy.refillTokens);
    for (const region of REGIONS) {
      const seen = await peek(local, region, 'fail-local', 'e2e-local');
      expect(seen.source).toBe('store');
      // Lost local admissions would leave capacity − 1 (+ refill) here.
      expect(seen.remaining, region).toBeLessThanOrEqual(
        policy.capacityTokens - (admitted.length + 1) + refill,
      );
    }
  });

  it('decides within the store budget when the store never answers', async () => {
    local.setDown(DOWN, true, 'hang');
    const answers = await burst(DOWN, '/fail-open/x', 'e2e-hang', 2);
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.echo?.rateLimitHeaders[ORIGIN_HEADERS.fallback]).toBe('open');
    }
    const closed = await edgeGet(local, DOWN, '/fail-closed/x', 'e2e-hang');
    expect(closed.status).toBe(503);
    const status = await local.status();
    expect(status.regions.find((r) => r.region === DOWN)?.storeDown).toBe('hang');
  });

  it('takes a store down and back through the admin endpoint', async () => {
    const down = await fetch(`${local.adminUrl}/admin/down?region=${DOWN}&down=true`, {
      method: 'POST',
    });
    expect(await down.json()).toEqual({ region: DOWN, down: 'error' });
    expect(local.emulator.downMode(DOWN)).toBe('error');
    const bad = await fetch(`${local.adminUrl}/admin/down?region=${DOWN}&mode=slow`, {
      method: 'POST',
    });
    expect(bad.status).toBe(400);
    await fetch(`${local.adminUrl}/admin/down?region=${DOWN}&down=false`, { method: 'POST' });
    expect(local.emulator.downMode(DOWN)).toBeUndefined();
  });
});
