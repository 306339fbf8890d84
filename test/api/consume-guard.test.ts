/**
 * The regional API cannot be used to hurt other callers: each policy's
 * `apiAccess` rules, through the handler with function URL events. A
 * refused consume answers 403 or 400 naming the rule and never reaches the
 * store; peeks stay allowed.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { consumeGuardOf } from '../../functions/api/consume-guard';
import { createApiHandler, ROUTES } from '../../functions/api/handler';
import { resolveConfig } from '../../functions/config/resolve';
import type { LimiterConfig, PolicyConfig, RuleConfig } from '../../functions/config/schema';
import { Limiter } from '../../functions/limiter/limiter';
import shipped from '../../limiter.config';
import { configWith, ManualClock } from '../limiter/fixtures';
import { MemoryStore } from '../limiter/memory-store';
import { functionUrlEvent } from './events';

let store: MemoryStore;
let clock: ManualClock;

beforeEach(() => {
  store = new MemoryStore();
  clock = new ManualClock(Date.UTC(2026, 0, 1));
});

const rule = (policy: string, key: RuleConfig['key'], id = policy): RuleConfig => ({
  id,
  match: { path: `/${id}/**` },
  policy,
  key,
});

/** A config of `policies` and `rules` (validated). */
function configOf(policies: readonly PolicyConfig[], rules: readonly RuleConfig[]): LimiterConfig {
  return configWith(policies, {}, { rules });
}

/** The API of one region over the shared store, built as the composition root builds it. */
function api(config: LimiterConfig, region = 'us-east-1') {
  const resolved = resolveConfig(config);
  return createApiHandler({
    limiter: new Limiter({ config: resolved, region, store, clock: clock.now }),
    consumeGuard: consumeGuardOf(resolved),
    region,
    store,
    clock: clock.now,
    logError: () => undefined,
  });
}

const post = (payload: unknown) =>
  functionUrlEvent({ method: 'POST', path: ROUTES.limit, body: JSON.stringify(payload) });
const peek = (query: Record<string, string>) => functionUrlEvent({ path: ROUTES.limit, query });

function body(result: APIGatewayProxyStructuredResultV2): Record<string, unknown> {
  return JSON.parse(result.body ?? 'null') as Record<string, unknown>;
}

const noStoreCall = { readView: 0, readSlot: 0, applyWrite: 0, applyTake: 0 };

const shared: PolicyConfig = { id: 'global-cap', capacityTokens: 5000, refillTokens: 2000 };
const perCaller: PolicyConfig = { id: 'api', capacityTokens: 100, refillTokens: 50 };

describe('apiAccess.consume', () => {
  const config = configOf(
    [shared, perCaller],
    [rule('api', [{ header: 'x-api-key' }]), rule('global-cap', [{ constant: 'all' }])],
  );

  it('refuses with 403 to consume a policy a rule keys by constants only, naming the rule', async () => {
    const result = await api(config)(post({ policy: 'global-cap', key: 'all' }));
    expect(result.statusCode).toBe(403);
    expect(body(result)).toEqual({
      error: 'forbidden',
      policy: 'global-cap',
      rule: 'apiAccess.consume',
      message: expect.stringMatching(
        /policy "global-cap" may be peeked but not consumed.*rule "global-cap" keys it by constants only.*apiAccess\.consume: true/,
      ),
    });
    expect(result.headers?.['content-type']).toMatch(/application\/json/);
    expect(store.calls).toEqual(noStoreCall);
  });

  it('still lets a shared policy be peeked', async () => {
    const result = await api(config)(peek({ policy: 'global-cap', key: 'all', cost: '4000' }));
    expect(result.statusCode).toBe(200);
    expect(body(result)).toMatchObject({ allowed: true, remaining: 5000, limit: 5000 });
  });

  it('consumes a policy every rule of which keys it per caller', async () => {
    const result = await api(config)(post({ policy: 'api', key: 'alice' }));
    expect(result.statusCode).toBe(200);
    expect(body(result)).toMatchObject({ allowed: true, remaining: 99 });
  });

  it('refuses a policy one of whose rules keys it by constants, even if another keys it per caller', async () => {
    const mixed = configOf(
      [perCaller],
      [rule('api', [{ header: 'x-api-key' }]), rule('api', [{ constant: 'x' }], 'api-shared')],
    );
    const result = await api(mixed)(post({ policy: 'api', key: 'alice' }));
    expect(result.statusCode).toBe(403);
    expect(body(result).message).toMatch(/rule "api-shared"/);
  });

  it('refuses a policy no rule uses unless it opts in', async () => {
    const alone = configOf([perCaller], []);
    const refused = await api(alone)(post({ policy: 'api', key: 'alice' }));
    expect(refused.statusCode).toBe(403);
    expect(body(refused).message).toMatch(/no rule uses it/);
    const optedIn = configOf([{ ...perCaller, apiAccess: { consume: true } }], []);
    expect((await api(optedIn)(post({ policy: 'api', key: 'alice' }))).statusCode).toBe(200);
  });

  it('follows an explicit setting either way', async () => {
    const flipped = configOf(
      [
        { ...shared, apiAccess: { consume: true } },
        { ...perCaller, apiAccess: { consume: false } },
      ],
      [rule('api', [{ header: 'x-api-key' }]), rule('global-cap', [{ constant: 'all' }])],
    );
    const handler = api(flipped);
    expect((await handler(post({ policy: 'global-cap', key: 'all' }))).statusCode).toBe(200);
    const refused = await handler(post({ policy: 'api', key: 'alice' }));
    expect(refused.statusCode).toBe(403);
    expect(body(refused).message).toMatch(/its apiAccess\.consume is false/);
  });
});

describe('apiAccess.maxCostPerCall', () => {
  it('refuses with 400 a cost above a tenth of capacity by default, naming the rule', async () => {
    const handler = api(configOf([perCaller], [rule('api', [{ header: 'x-api-key' }])]));
    const refused = await handler(post({ policy: 'api', key: 'alice', cost: 11 }));
    expect(refused.statusCode).toBe(400);
    expect(body(refused)).toEqual({
      error: 'bad_request',
      policy: 'api',
      rule: 'apiAccess.maxCostPerCall',
      message: expect.stringMatching(/cost 11 exceeds the 10 tokens one API call may take/),
    });
    expect(store.calls).toEqual(noStoreCall);
    const admitted = await handler(post({ policy: 'api', key: 'alice', cost: 10 }));
    expect(admitted.statusCode).toBe(200);
    expect(body(admitted).remaining).toBe(90);
  });

  it('allows a cost of 1 on a bucket smaller than 10 tokens', async () => {
    const small = { id: 'small', capacityTokens: 5, refillTokens: 1 };
    const handler = api(configOf([small], [rule('small', [{ ip: true }])]));
    expect((await handler(post({ policy: 'small', key: 'k', cost: 1 }))).statusCode).toBe(200);
    expect((await handler(post({ policy: 'small', key: 'k', cost: 2 }))).statusCode).toBe(400);
  });

  it('follows a configured maximum', async () => {
    const generous = { ...perCaller, apiAccess: { maxCostPerCall: 60 } };
    const handler = api(configOf([generous], [rule('api', [{ header: 'x-api-key' }])]));
    expect((await handler(post({ policy: 'api', key: 'a', cost: 60 }))).statusCode).toBe(200);
    expect((await handler(post({ policy: 'api', key: 'b', cost: 61 }))).statusCode).toBe(400);
  });

  it('leaves a cost above capacity to the limiter, whose 400 says it could never be admitted', async () => {
    const handler = api(configOf([perCaller], [rule('api', [{ header: 'x-api-key' }])]));
    const result = await handler(post({ policy: 'api', key: 'alice', cost: 101 }));
    expect(result.statusCode).toBe(400);
    expect(body(result).message).toMatch(/exceeds capacityTokens 100/);
    expect(body(result).rule).toBeUndefined();
  });

  it('does not bound peeks', async () => {
    const handler = api(configOf([perCaller], [rule('api', [{ header: 'x-api-key' }])]));
    const result = await handler(peek({ policy: 'api', key: 'alice', cost: '100' }));
    expect(result.statusCode).toBe(200);
    expect(body(result).allowed).toBe(true);
  });
});

describe('apiAccess.ipKeys', () => {
  const keyed = configOf([perCaller], [rule('api', [{ header: 'x-api-key' }])]);

  it.each([
    ['an IPv4 key', 'ip:203.0.113.7'],
    ['an IPv6 prefix key', 'ip:2001:db8:0:1::/64'],
    ['a key that normalises to one', '  ip:203.0.113.7 '],
  ])('refuses with 403 to consume %s, naming the rule', async (_label, key) => {
    const result = await api(keyed)(post({ policy: 'api', key }));
    expect(result.statusCode).toBe(403);
    expect(body(result)).toMatchObject({
      error: 'forbidden',
      policy: 'api',
      rule: 'apiAccess.ipKeys',
    });
    expect(store.calls).toEqual(noStoreCall);
  });

  it('still peeks an IP bucket, and consumes keys that merely contain "ip:"', async () => {
    const handler = api(keyed);
    expect((await handler(peek({ policy: 'api', key: 'ip:203.0.113.7' }))).statusCode).toBe(200);
    expect((await handler(post({ policy: 'api', key: 'vip:1' }))).statusCode).toBe(200);
  });

  it('consumes IP buckets where the policy allows it', async () => {
    const open = configOf(
      [{ ...perCaller, apiAccess: { ipKeys: true } }],
      [rule('api', [{ header: 'x-api-key' }])],
    );
    const result = await api(open)(post({ policy: 'api', key: 'ip:203.0.113.7' }));
    expect(result.statusCode).toBe(200);
    expect(body(result).remaining).toBe(99);
  });
});

describe('the shipped config', () => {
  const config = { ...structuredClone(shipped), account: '123456789012' };

  it('lets no region consume the global cap: three calls of its whole capacity take nothing', async () => {
    // The incident: one call per region before the writes replicate took 3 × 5,000 tokens.
    for (const region of config.regions) {
      const result = await api(
        config,
        region,
      )(post({ policy: 'global-cap', key: 'all', cost: 5000 }));
      expect(result.statusCode, region).toBe(403);
      expect(body(result).rule).toBe('apiAccess.consume');
    }
    expect(store.calls).toEqual(noStoreCall);
    const level = await api(config)(peek({ policy: 'global-cap', key: 'all' }));
    expect(body(level).remaining).toBe(5000);
  });

  it('lets a caller take at most a tenth of a per-caller bucket, and no viewer IP bucket', async () => {
    const handler = api(config);
    expect((await handler(post({ policy: 'api', key: 'alice', cost: 10 }))).statusCode).toBe(200);
    expect((await handler(post({ policy: 'api', key: 'alice', cost: 11 }))).statusCode).toBe(400);
    expect((await handler(post({ policy: 'demo', key: 'alice' }))).statusCode).toBe(200);
    expect((await handler(post({ policy: 'demo', key: 'ip:198.51.100.1' }))).statusCode).toBe(403);
  });
});
