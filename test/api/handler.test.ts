/**
 * The regional API with real function URL event shapes: answers, headers,
 * every kind of bad input (none of which reaches the store), methods, paths
 * and /health.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { consumeGuardOf } from '../../functions/api/consume-guard';
import { createApiHandler, ROUTES } from '../../functions/api/handler';
import type { ReplicationStatusReader } from '../../functions/api/health';
import { resolveConfig } from '../../functions/config/resolve';
import { Limiter } from '../../functions/limiter/limiter';
import { configWith, ManualClock } from '../limiter/fixtures';
import { MemoryStore } from '../limiter/memory-store';
import { functionUrlEvent } from './events';

// No rule uses the policy, so the API may consume it only because it says so
// (consume-guard.test.ts tests the defaults); any cost up to capacity.
const config = configWith([
  {
    id: 'api',
    capacityTokens: 3,
    refillTokens: 1,
    refillIntervalMs: 1000,
    denyKeys: ['mallory'],
    apiAccess: { consume: true, maxCostPerCall: 3 },
  },
]);

let store: MemoryStore;
let clock: ManualClock;
let invocations: number;
let statusReader: ReplicationStatusReader | undefined;

function api(limiter?: Pick<Limiter, 'limit' | 'peek'>) {
  return createApiHandler({
    limiter: limiter ?? new Limiter({ config, region: 'us-east-1', store, clock: clock.now }),
    consumeGuard: consumeGuardOf(resolveConfig(config)),
    region: 'us-east-1',
    store,
    clock: clock.now,
    healthBudgetMs: 50,
    afterInvocation: () => {
      invocations += 1;
    },
    logError: () => undefined,
    ...(statusReader === undefined ? {} : { statusReader }),
  });
}

function body(result: APIGatewayProxyStructuredResultV2): Record<string, unknown> {
  return JSON.parse(result.body ?? 'null') as Record<string, unknown>;
}

const post = (payload: unknown, base64 = false) =>
  functionUrlEvent({
    method: 'POST',
    path: ROUTES.limit,
    body: typeof payload === 'string' ? payload : JSON.stringify(payload),
    base64,
  });

beforeEach(() => {
  store = new MemoryStore();
  clock = new ManualClock(Date.UTC(2026, 0, 1));
  invocations = 0;
  statusReader = undefined;
});

describe('POST /v1/limit', () => {
  it('admits with the RateLimit headers, then answers 429 with Retry-After', async () => {
    const handler = api();
    const first = await handler(post({ policy: 'api', key: 'alice' }));
    expect(first.statusCode).toBe(200);
    expect(body(first)).toEqual({
      allowed: true,
      policy: 'api',
      limit: 3,
      remaining: 2,
      resetAt: new Date(Date.UTC(2026, 0, 1) + 1000).toISOString(),
      retryAfterSeconds: 0,
      source: 'store',
    });
    expect(first.headers).toMatchObject({
      'RateLimit-Policy': '"api";q=3;w=3',
      RateLimit: '"api";r=2;t=0',
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
    });
    expect(first.headers?.['Retry-After']).toBeUndefined();

    await handler(post({ policy: 'api', key: 'alice', cost: 2 }));
    const refused = await handler(post({ policy: 'api', key: 'alice' }));
    expect(refused.statusCode).toBe(429);
    expect(body(refused)).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1 });
    expect(refused.headers).toMatchObject({ 'Retry-After': '1', RateLimit: '"api";r=0;t=1' });
    expect(invocations).toBe(3);
  });

  it('accepts a base64-encoded body, as function URLs send non-text content types', async () => {
    const result = await api()(post({ policy: 'api', key: 'alice', cost: 3 }, true));
    expect(result.statusCode).toBe(200);
    expect(body(result).remaining).toBe(0);
  });

  it('answers 403 without Retry-After for a deny-listed key', async () => {
    const result = await api()(post({ policy: 'api', key: 'mallory' }));
    expect(result.statusCode).toBe(403);
    expect(body(result)).toMatchObject({
      allowed: false,
      source: 'denylist',
      retryAfterSeconds: null,
    });
    expect(result.headers?.['Retry-After']).toBeUndefined();
  });
});

describe('GET /v1/limit (peek)', () => {
  it('reports without consuming and always answers 200', async () => {
    const handler = api();
    await handler(post({ policy: 'api', key: 'bob', cost: 3 }));
    const peek = functionUrlEvent({ path: ROUTES.limit, query: { policy: 'api', key: 'bob' } });
    const first = await handler(peek);
    expect(first.statusCode).toBe(200);
    expect(body(first)).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 1 });
    expect(first.headers?.['Retry-After']).toBeUndefined();
    clock.advance(2000);
    const later = await handler(
      functionUrlEvent({ path: ROUTES.limit, query: { policy: 'api', key: 'bob', cost: '2' } }),
    );
    expect(body(later)).toMatchObject({ allowed: true, remaining: 2 });
    // One write for the POST (a cold bucket's take), none for the peeks.
    expect(store.calls.applyWrite + store.calls.applyTake).toBe(1);
  });
});

describe('bad input: 400 naming the problem, and no store call', () => {
  const cases: [string, ReturnType<typeof functionUrlEvent>, RegExp][] = [
    ['unknown policy', post({ policy: 'nope', key: 'k' }), /unknown policy "nope"/],
    ['missing policy', post({ key: 'k' }), /policy is required/],
    ['missing key', post({ policy: 'api' }), /key is required/],
    ['empty key', post({ policy: 'api', key: '' }), /key is required/],
    ['blank key', post({ policy: 'api', key: '   ' }), /key is empty/],
    ['key not a string', post({ policy: 'api', key: 42 }), /key must be a string/],
    ['oversized key', post({ policy: 'api', key: 'k'.repeat(257) }), /longer than 256/],
    [
      'fractional cost',
      post({ policy: 'api', key: 'k', cost: 1.5 }),
      /cost must be a positive integer/,
    ],
    [
      'negative cost',
      post({ policy: 'api', key: 'k', cost: -1 }),
      /cost must be a positive integer/,
    ],
    ['zero cost', post({ policy: 'api', key: 'k', cost: 0 }), /cost must be a positive integer/],
    [
      'cost as a string',
      post({ policy: 'api', key: 'k', cost: '2' }),
      /cost must be a positive integer/,
    ],
    ['excessive cost', post({ policy: 'api', key: 'k', cost: 4 }), /exceeds capacityTokens 3/],
    [
      'huge cost',
      post('{"policy":"api","key":"k","cost":1e400}'),
      /cost must be a positive integer/,
    ],
    ['invalid JSON', post('{"policy": "api", "key": '), /not valid JSON/],
    ['invalid JSON in base64', post('{nope', true), /not valid JSON/],
    ['a JSON array', post([{ policy: 'api', key: 'k' }]), /must be a JSON object/],
    ['a JSON string', post('"api"'), /must be a JSON object/],
    [
      'an empty body',
      functionUrlEvent({ method: 'POST', path: ROUTES.limit }),
      /must be a JSON object/,
    ],
    ['an unknown field', post({ policy: 'api', key: 'k', kost: 2 }), /unknown field "kost"/],
    [
      'an oversized body',
      post({ policy: 'api', key: 'k', padding: 'x'.repeat(5000) }),
      /larger than 4096 bytes/,
    ],
    [
      'an oversized base64 body',
      post({ policy: 'api', key: 'k', padding: 'x'.repeat(4100) }, true),
      /larger than 4096 bytes/,
    ],
    [
      'a peek without key',
      functionUrlEvent({ path: ROUTES.limit, query: { policy: 'api' } }),
      /key is required/,
    ],
    [
      'a peek with a non-numeric cost',
      functionUrlEvent({ path: ROUTES.limit, query: { policy: 'api', key: 'k', cost: 'abc' } }),
      /cost must be a positive integer/,
    ],
    [
      'a peek with an unknown parameter',
      functionUrlEvent({ path: ROUTES.limit, query: { policy: 'api', key: 'k', debug: '1' } }),
      /unknown query parameter "debug"/,
    ],
  ];
  for (const [label, event, message] of cases) {
    it(`refuses ${label}`, async () => {
      const result = await api()(event);
      expect(result.statusCode).toBe(400);
      expect(body(result).error).toBe('bad_request');
      expect(body(result).message).toMatch(message);
      expect(store.calls).toEqual({ readView: 0, readSlot: 0, applyWrite: 0, applyTake: 0 });
    });
  }
});

describe('routing', () => {
  it('answers 405 with Allow for a wrong method', async () => {
    for (const [method, path, allow] of [
      ['PUT', ROUTES.limit, 'GET, POST'],
      ['DELETE', ROUTES.limit, 'GET, POST'],
      ['POST', ROUTES.health, 'GET'],
    ] as const) {
      const result = await api()(functionUrlEvent({ method, path }));
      expect(result.statusCode).toBe(405);
      expect(result.headers?.Allow).toBe(allow);
    }
  });

  it('answers 404 for an unknown path', async () => {
    const result = await api()(functionUrlEvent({ path: '/v2/limit' }));
    expect(result.statusCode).toBe(404);
    expect(body(result).error).toBe('not_found');
  });

  it('strips an API Gateway stage prefix and a trailing slash', async () => {
    const event = functionUrlEvent({
      method: 'POST',
      path: '/prod/v1/limit/',
      body: '{"policy":"api","key":"k"}',
      stage: 'prod',
    });
    expect((await api()(event)).statusCode).toBe(200);
  });

  it('answers 500 without details when the limiter fails unexpectedly, and still flushes', async () => {
    const broken = {
      limit: () => Promise.reject(new Error('boom')),
      peek: () => Promise.reject(new Error('boom')),
    };
    const result = await api(broken)(post({ policy: 'api', key: 'k' }));
    expect(result.statusCode).toBe(500);
    expect(result.body).not.toContain('boom');
    expect(invocations).toBe(1);
  });
});

describe('GET /health', () => {
  it('reports the store reachable and the reconciler lag per other region', async () => {
    const asked: string[] = [];
    statusReader = {
      readStatus: async (region) => {
        asked.push(region);
        return {
          region,
          measuredAtMs: Date.UTC(2026, 0, 1, 0, 0, 0),
          durationMs: 640,
          lagMs: { 'eu-west-1': 812, 'ap-southeast-1': null },
          heartbeatAgeMs: { 'eu-west-1': 30_000, 'ap-southeast-1': null },
          watched: [],
          errorCount: 0,
        };
      },
    };
    const result = await api()(functionUrlEvent({ path: ROUTES.health }));
    expect(result.statusCode).toBe(200);
    expect(body(result)).toMatchObject({
      status: 'ok',
      region: 'us-east-1',
      store: { reachable: true },
      replication: {
        measuredAt: '2026-01-01T00:00:00.000Z',
        lagMs: { 'eu-west-1': 812, 'ap-southeast-1': null },
      },
    });
    expect(store.calls.readSlot).toBe(1);
    expect(asked).toEqual(['us-east-1']);
  });

  it('reports null replication when the reconciler never ran, or its status cannot be read', async () => {
    statusReader = { readStatus: async () => undefined };
    expect(body(await api()(functionUrlEvent({ path: ROUTES.health }))).replication).toBeNull();
    statusReader = { readStatus: () => Promise.reject(new Error('AccessDenied')) };
    const result = await api()(functionUrlEvent({ path: ROUTES.health }));
    expect(result.statusCode).toBe(200);
    expect(body(result).replication).toBeNull();
  });

  it('answers 503 with the failure kind when the store is down or hangs past the budget', async () => {
    store.fault = 'unavailable';
    const down = await api()(functionUrlEvent({ path: ROUTES.health }));
    expect(down.statusCode).toBe(503);
    expect(body(down)).toMatchObject({
      status: 'degraded',
      store: { reachable: false, error: 'unavailable' },
    });
    store.fault = 'hang';
    store.honourAbort = false;
    const hung = await api()(functionUrlEvent({ path: ROUTES.health }));
    expect(body(hung)).toMatchObject({ store: { reachable: false, error: 'timeout' } });
  });
});
