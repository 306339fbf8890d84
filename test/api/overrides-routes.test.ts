/**
 * The override routes of the regional API with real function URL event
 * shapes: set, read, list and delete, every problem of a bad override listed
 * in one 400, the caller's IAM identity recorded and logged, and the
 * decision routes answering with the override once the cache has read it.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { consumeGuardOf } from '../../functions/api/consume-guard';
import { createApiHandler, ROUTES } from '../../functions/api/handler';
import { ACTOR_HEADER, OVERRIDES_ROUTE } from '../../functions/api/overrides-routes';
import { type OverrideRecord, overrideSortKey } from '../../functions/config/overrides';
import { resolveConfig } from '../../functions/config/resolve';
import { Limiter } from '../../functions/limiter/limiter';
import { OverrideCache } from '../../functions/limiter/overrides';
import type { OverrideTable, StoredOverride } from '../../functions/store/override-table';
import { configWith, ManualClock } from '../limiter/fixtures';
import { MemoryStore } from '../limiter/memory-store';
import { type EventOptions, functionUrlEvent } from './events';

const config = resolveConfig(
  configWith([
    {
      id: 'api',
      capacityTokens: 3,
      refillTokens: 1,
      refillIntervalMs: 1000,
      apiAccess: { consume: true },
    },
  ]),
);
const ROLE = 'arn:aws:sts::111111111111:assumed-role/oncall/alice';

/** The overrides partition in memory, with the table's semantics (tombstones on delete). */
class MemoryOverrideTable implements Pick<OverrideTable, 'read' | 'put' | 'delete'> {
  readonly items = new Map<string, StoredOverride>();
  async read() {
    return { overrides: [...this.items.values()].map((o) => ({ ...o })), unreadable: [] };
  }
  async put(record: OverrideRecord) {
    this.items.set(overrideSortKey(record), { ...record, deleted: false });
  }
  async delete(
    target: { policy: string; key?: string },
    by: { updatedBy: string; updatedAtMs: number; reason?: string },
  ) {
    const sortKey = overrideSortKey(target);
    const found = this.items.get(sortKey);
    if (found === undefined || found.deleted) return false;
    this.items.set(sortKey, { ...found, ...by, deleted: true });
    return true;
  }
}

let table: MemoryOverrideTable;
let clock: ManualClock;
let logged: Record<string, unknown>[];

beforeEach(() => {
  table = new MemoryOverrideTable();
  clock = new ManualClock(Date.UTC(2026, 0, 1));
  logged = [];
});

function api() {
  const cache = new OverrideCache({
    config,
    read: () => table.read(),
    time: { now: clock.now, monotonicMs: clock.now, setTimer: () => 0, clearTimer: () => {} },
    refreshMs: 1000,
    maxAgeMs: 1000,
  });
  const limiter = new Limiter({
    config,
    region: 'us-east-1',
    store: new MemoryStore(),
    clock: clock.now,
    overrides: cache,
  });
  return createApiHandler({
    limiter,
    region: 'us-east-1',
    store: new MemoryStore(),
    consumeGuard: consumeGuardOf(config),
    clock: clock.now,
    overrides: { config, table, clock: clock.now, region: 'us-east-1', log: (e) => logged.push(e) },
    beforeInvocation: () => cache.ready(),
    logError: () => undefined,
  });
}

/** An event signed by `ROLE` (the function URL's IAM authorizer context). */
function signed(options: EventOptions): APIGatewayProxyEventV2 {
  const event = functionUrlEvent(options);
  return {
    ...event,
    requestContext: {
      ...event.requestContext,
      authorizer: {
        iam: {
          accessKey: 'ASIAEXAMPLE',
          accountId: '111111111111',
          callerId: 'AROAEXAMPLE:alice',
          cognitoIdentity: null,
          principalOrgId: null,
          userArn: ROLE,
          userId: 'AROAEXAMPLE:alice',
        },
      },
    } as APIGatewayProxyEventV2['requestContext'],
  };
}

const put = (path: string, body: unknown) =>
  signed({ method: 'PUT', path: `${OVERRIDES_ROUTE}/${path}`, body: JSON.stringify(body) });

function body(result: APIGatewayProxyStructuredResultV2): Record<string, unknown> {
  return JSON.parse(result.body ?? 'null') as Record<string, unknown>;
}

describe('PUT /v1/overrides/{policy}/{key}', () => {
  it('stores the override with who and when, logs it, and answers it', async () => {
    const handler = api();
    const result = await handler(
      put('api/acme', { settings: { factor: 10 }, reason: 'contract #12' }),
    );
    expect(result.statusCode).toBe(200);
    expect(body(result)).toEqual({
      policy: 'api',
      key: 'acme',
      settings: { factor: 10 },
      reason: 'contract #12',
      updatedBy: ROLE,
      updatedAt: '2026-01-01T00:00:00.000Z',
    });
    expect(table.items.get('api#acme')?.updatedBy).toBe(ROLE);
    expect(logged).toEqual([
      {
        level: 'info',
        message: 'override set',
        policy: 'api',
        key: 'acme',
        settings: { factor: 10 },
        reason: 'contract #12',
        by: ROLE,
        at: '2026-01-01T00:00:00.000Z',
        region: 'us-east-1',
      },
    ]);
  });

  it('lists every problem in one 400 and stores nothing', async () => {
    const handler = api();
    const result = await handler(
      put('nope/k', { settings: { mode: 'block', capacityTokens: -1, extra: 1 } }),
    );
    expect(result.statusCode).toBe(400);
    const answer = body(result);
    expect(answer.error).toBe('invalid_override');
    expect((answer.problems as { path: string }[]).map((p) => p.path).sort()).toEqual(
      ['policy', 'settings.capacityTokens', 'settings.extra', 'settings.mode'].sort(),
    );
    expect(table.items.size).toBe(0);
    expect(logged).toEqual([]);
  });

  it('refuses a body that is not JSON or has unknown fields', async () => {
    const handler = api();
    const notJson = await handler(
      signed({ method: 'PUT', path: `${OVERRIDES_ROUTE}/api`, body: '{' }),
    );
    expect(notJson.statusCode).toBe(400);
    const unknown = await handler(put('api', { settings: { shadow: true }, who: 'me' }));
    expect(unknown.statusCode).toBe(400);
    expect((body(unknown).problems as { path: string }[])[0]?.path).toBe('who');
  });

  it('takes a URL-encoded key holding "/" and "#" as one key', async () => {
    const handler = api();
    const key = 'tenant/a#1';
    const result = await handler(
      put(`api/${encodeURIComponent(key)}`, { settings: { mode: 'deny' } }),
    );
    expect(result.statusCode).toBe(200);
    expect(table.items.get(`api#${key}`)?.key).toBe(key);
  });

  it('records an unauthenticated caller as such, with the actor it names', async () => {
    const handler = api();
    await handler(
      functionUrlEvent({
        method: 'PUT',
        path: `${OVERRIDES_ROUTE}/api`,
        body: JSON.stringify({ settings: { shadow: true } }),
        headers: { [ACTOR_HEADER]: 'bob' },
      }),
    );
    expect(table.items.get('api')?.updatedBy).toBe('unauthenticated:bob');
  });
});

describe('GET, list and DELETE', () => {
  it('reads one, lists them all, deletes with a tombstone, then 404s', async () => {
    const handler = api();
    await handler(put('api', { settings: { capacityTokens: 10 } }));
    await handler(put('api/k', { settings: { mode: 'deny' } }));
    const one = await handler(signed({ path: `${OVERRIDES_ROUTE}/api/k` }));
    expect(body(one)).toMatchObject({ policy: 'api', key: 'k', settings: { mode: 'deny' } });
    const list = await handler(signed({ path: OVERRIDES_ROUTE }));
    expect((body(list).overrides as unknown[]).length).toBe(2);

    clock.advance(60_000);
    const deleted = await handler(
      signed({ method: 'DELETE', path: `${OVERRIDES_ROUTE}/api/k`, query: { reason: 'resolved' } }),
    );
    expect(deleted.statusCode).toBe(200);
    expect(logged.at(-1)).toMatchObject({
      message: 'override deleted',
      policy: 'api',
      key: 'k',
      by: ROLE,
      at: '2026-01-01T00:01:00.000Z',
      reason: 'resolved',
      previous: { mode: 'deny' },
    });
    expect((await handler(signed({ path: `${OVERRIDES_ROUTE}/api/k` }))).statusCode).toBe(404);
    const again = await handler(signed({ method: 'DELETE', path: `${OVERRIDES_ROUTE}/api/k` }));
    expect(again.statusCode).toBe(404);
    const remaining = await handler(signed({ path: OVERRIDES_ROUTE }));
    expect((body(remaining).overrides as unknown[]).length).toBe(1);
    const withDeleted = await handler(
      signed({ path: OVERRIDES_ROUTE, query: { deleted: 'true' } }),
    );
    expect(body(withDeleted).overrides).toContainEqual(
      expect.objectContaining({ key: 'k', deleted: true, updatedBy: ROLE }),
    );
  });

  it('answers 405 for other methods and 404 for deeper paths', async () => {
    const handler = api();
    const post = await handler(signed({ method: 'POST', path: `${OVERRIDES_ROUTE}/api` }));
    expect(post.statusCode).toBe(405);
    expect(post.headers?.Allow).toBe('GET, PUT, DELETE');
    const list = await handler(signed({ method: 'PUT', path: OVERRIDES_ROUTE }));
    expect(list.statusCode).toBe(405);
    const deep = await handler(signed({ path: `${OVERRIDES_ROUTE}/api/k/x` }));
    expect(deep.statusCode).toBe(404);
  });

  it('refuses an unknown policy on GET and DELETE', async () => {
    const handler = api();
    const result = await handler(signed({ method: 'DELETE', path: `${OVERRIDES_ROUTE}/nope` }));
    expect(result.statusCode).toBe(400);
  });
});

describe('regionalApi.operators', () => {
  it('lets only the listed principals change overrides; every caller may read them', async () => {
    const guarded = resolveConfig(
      configWith(
        [{ id: 'api', capacityTokens: 3, refillTokens: 1, refillIntervalMs: 1000 }],
        {},
        { regionalApi: { operators: ['arn:aws:iam::111111111111:role/incident'] } },
      ),
    );
    const handler = createApiHandler({
      limiter: new Limiter({ config: guarded, region: 'us-east-1', store: new MemoryStore() }),
      region: 'us-east-1',
      store: new MemoryStore(),
      overrides: { config: guarded, table, clock: clock.now, log: (e) => logged.push(e) },
      consumeGuard: consumeGuardOf(guarded),
      logError: () => undefined,
    });
    const refused = await handler(put('api/k', { settings: { mode: 'deny' } }));
    expect(refused.statusCode).toBe(403);
    expect(body(refused).message).toMatch(
      /only regionalApi.operators .*assumed-role\/oncall\/alice/,
    );
    expect(table.items.size).toBe(0);
    const deleteRefused = await handler(
      signed({ method: 'DELETE', path: `${OVERRIDES_ROUTE}/api` }),
    );
    expect(deleteRefused.statusCode).toBe(403);
    expect((await handler(signed({ path: OVERRIDES_ROUTE }))).statusCode).toBe(200);
  });
});

describe('decisions under an override set through the API', () => {
  it('denies the key with 403 once the cache has read the override', async () => {
    const handler = api();
    const limit = () =>
      handler(
        functionUrlEvent({
          method: 'POST',
          path: ROUTES.limit,
          body: JSON.stringify({ policy: 'api', key: 'k' }),
        }),
      );
    expect((await limit()).statusCode).toBe(200);
    await handler(put('api/k', { settings: { mode: 'deny' } }));
    // The maximum age (1 s here) has passed: the next decision waits for a read.
    clock.advance(1_001);
    const refused = await limit();
    expect(refused.statusCode).toBe(403);
    expect(body(refused).source).toBe('denylist');
  });
});
