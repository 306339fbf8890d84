import type {
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontRequestResult,
  CloudFrontResultResponse,
} from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { LimiterConfig } from '../../functions/config/schema';
import { responseHandler } from '../../functions/edge/response-handler';
import {
  generatedResponseBytes,
  MAX_GENERATED_RESPONSE_BYTES,
} from '../../functions/edge/responses';
import { compileRules } from '../../functions/edge/rule-match';
import {
  createViewerRequestHandler,
  EdgeEventError,
  type EdgeLimiter,
} from '../../functions/edge/viewer-request';
import { Limiter } from '../../functions/limiter/limiter';
import type { LimitRequest } from '../../functions/limiter/types';
import { ManualClock, RecordingMetrics } from '../limiter/fixtures';
import { MemoryStore } from '../limiter/memory-store';
import { edgeTestConfig, requestEvent, responseEvent, setLines } from './fixtures';

/** A handler on a real limiter over an in-memory store, with a spy on every limiter request. */
function setup(config: LimiterConfig = edgeTestConfig()) {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const metrics = new RecordingMetrics();
  const limiter = new Limiter({ config, region: 'eu-west-1', store, clock: clock.now, metrics });
  const requests: LimitRequest[] = [];
  const spy: EdgeLimiter = {
    limitAll: (batch) => {
      requests.push(...batch);
      return limiter.limitAll(batch);
    },
  };
  const logs: Record<string, unknown>[] = [];
  const handler = createViewerRequestHandler({
    rules: compileRules(config),
    limiter: spy,
    maxKeyLength: config.runtime?.maxKeyLength,
    clock: clock.now,
    log: (entry) => logs.push({ ...entry }),
  });
  const storeCalls = () => store.calls.readView + store.calls.readSlot + store.calls.applyWrite;
  return { handler, store, clock, metrics, limiter, requests, logs, storeCalls };
}

function isResponse(result: CloudFrontRequestResult): result is CloudFrontResultResponse {
  return result != null && 'status' in result;
}

function asRequest(result: CloudFrontRequestResult): CloudFrontRequest {
  if (result == null || isResponse(result))
    throw new Error(`expected a forwarded request, got ${JSON.stringify(result)}`);
  return result;
}

function asResponse(result: CloudFrontRequestResult): CloudFrontResultResponse {
  if (!isResponse(result))
    throw new Error(`expected a generated response, got ${JSON.stringify(result)}`);
  return result;
}

function header(
  headers: CloudFrontRequest['headers'] | undefined,
  name: string,
): string | undefined {
  return headers?.[name]?.[0]?.value;
}

const demo = (edit?: Parameters<typeof requestEvent>[1]) =>
  requestEvent('viewer-request-get-ipv4', edit);

describe('allowed requests', () => {
  it('forward the request with the decision headers for the origin', async () => {
    const { handler, requests } = setup();
    const event = demo();
    const forwarded = asRequest(await handler(event));
    expect(requests).toEqual([{ policyId: 'demo', key: 'key-alice-0001', costTokens: 1 }]);
    expect(header(forwarded.headers, 'x-ratelimit-limit')).toBe('3');
    expect(header(forwarded.headers, 'x-ratelimit-remaining')).toBe('2');
    expect(header(forwarded.headers, 'x-ratelimit-reset')).toBe('1');
    expect(header(forwarded.headers, 'x-ratelimit-retry-after')).toBe('0');
    expect(header(forwarded.headers, 'x-ratelimit-policy')).toBe('"demo";q=3;w=3');
    expect(header(forwarded.headers, 'x-ratelimit-shadow')).toBeUndefined();
    // The rest of the request is untouched.
    expect(forwarded.uri).toBe('/demo/items');
    expect(forwarded.querystring).toBe('page=2&sort=name%20asc');
    expect(header(forwarded.headers, 'x-api-key')).toBe('key-alice-0001');
  });

  it('count down remaining tokens request after request', async () => {
    const { handler } = setup();
    const remaining: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++)
      remaining.push(header(asRequest(await handler(demo())).headers, 'x-ratelimit-remaining'));
    expect(remaining).toEqual(['2', '1', '0']);
  });

  it('give the client RateLimit headers through the viewer-response function', async () => {
    const { handler } = setup();
    const forwarded = asRequest(await handler(demo()));
    const out = await responseHandler(responseEvent(forwarded));
    expect(header(out?.headers, 'ratelimit')).toBe('"demo";r=2;t=0');
    expect(header(out?.headers, 'ratelimit-policy')).toBe('"demo";q=3;w=3');
    expect(out?.status).toBe('200');
  });

  it('tell the client when the next request will pass once the last token is spent', async () => {
    const { handler } = setup();
    await handler(demo());
    await handler(demo());
    const last = asRequest(await handler(demo()));
    expect(header(last.headers, 'x-ratelimit-remaining')).toBe('0');
    expect(header(last.headers, 'x-ratelimit-retry-after')).toBe('1');
    expect(header(last.headers, 'x-ratelimit-reset')).toBe('3');
    const out = await responseHandler(responseEvent(last));
    expect(header(out?.headers, 'ratelimit')).toBe('"demo";r=0;t=1');
  });
});

describe('refused requests', () => {
  it('get a small 429 with Retry-After, RateLimit headers and a JSON body', async () => {
    const { handler, clock } = setup();
    for (let i = 0; i < 3; i++) asRequest(await handler(demo()));
    const refused = asResponse(await handler(demo()));
    expect(refused.status).toBe('429');
    expect(refused.statusDescription).toBe('Too Many Requests');
    expect(header(refused.headers, 'retry-after')).toBe('1');
    expect(header(refused.headers, 'ratelimit')).toBe('"demo";r=0;t=1');
    expect(header(refused.headers, 'ratelimit-policy')).toBe('"demo";q=3;w=3');
    expect(header(refused.headers, 'cache-control')).toBe('no-store');
    expect(header(refused.headers, 'content-type')).toMatch(/^application\/json(;|$)/);
    const body = JSON.parse(refused.body!) as Record<string, unknown>;
    expect(body).toMatchObject({ error: 'rate_limited', policy: 'demo', retryAfterSeconds: 1 });
    expect(body.retryAt).toBe(new Date(clock.nowMs + 1000).toISOString());
    expect(generatedResponseBytes(refused)).toBeLessThan(MAX_GENERATED_RESPONSE_BYTES / 40);
  });

  it('admit again once the bucket refilled', async () => {
    const { handler, clock } = setup();
    for (let i = 0; i < 3; i++) await handler(demo());
    expect(isResponse(await handler(demo()))).toBe(true);
    clock.advance(1000);
    expect(header(asRequest(await handler(demo())).headers, 'x-ratelimit-remaining')).toBe('0');
  });

  it('refuse from the blocked-until cache without calling the store', async () => {
    const { handler, storeCalls } = setup();
    for (let i = 0; i < 4; i++) await handler(demo());
    const before = storeCalls();
    for (let i = 0; i < 20; i++) expect(asResponse(await handler(demo())).status).toBe('429');
    expect(storeCalls()).toBe(before);
  });
});

describe('spoofed decision headers', () => {
  it('are removed even when no rule applies, and the request otherwise passes untouched', async () => {
    const { handler, requests, storeCalls } = setup();
    const event = requestEvent('viewer-request-spoofed-headers');
    const original = structuredClone(event.Records[0]!.cf.request);
    const forwarded = asRequest(await handler(event));
    expect(requests).toEqual([]);
    expect(storeCalls()).toBe(0);
    expect(Object.keys(forwarded.headers).filter((h) => h.startsWith('x-ratelimit-'))).toEqual([]);
    const expected = { ...original, headers: { ...original.headers } };
    for (const h of Object.keys(expected.headers))
      if (h.startsWith('x-ratelimit-')) delete expected.headers[h];
    expect(forwarded).toEqual(expected);
  });

  it('are replaced by the real decision on a limited path, so the client sees no forged RateLimit', async () => {
    const { handler } = setup();
    const event = requestEvent('viewer-request-spoofed-headers', (r) => {
      r.uri = '/demo/x';
    });
    const forwarded = asRequest(await handler(event));
    expect(header(forwarded.headers, 'x-ratelimit-remaining')).toBe('2');
    expect(header(forwarded.headers, 'x-ratelimit-shadow')).toBeUndefined();
    const out = await responseHandler(responseEvent(forwarded));
    expect(header(out?.headers, 'ratelimit')).toBe('"demo";r=2;t=0');
  });
});

describe('keys and bad input', () => {
  it('falls back to the viewer IP for a missing key on an ip rule', async () => {
    const { handler, requests } = setup();
    const forwarded = asRequest(await handler(demo((r) => delete r.headers['x-api-key'])));
    expect(requests[0]).toMatchObject({ key: 'ip:203.0.113.178' });
    expect(header(forwarded.headers, 'x-ratelimit-policy')).toBe('"demo";q=3;w=3');
  });

  it('answers 401 with a JSON body for a missing key on a reject rule, without a store call', async () => {
    const { handler, storeCalls, requests } = setup();
    const event = requestEvent('viewer-request-post-ipv6', (r) => delete r.headers['x-api-key']);
    const res = asResponse(await handler(event));
    expect(res.status).toBe('401');
    expect(header(res.headers, 'content-type')).toMatch(/^application\/json(;|$)/);
    expect(header(res.headers, 'cache-control')).toBe('no-store');
    expect(header(res.headers, 'www-authenticate')).toBe('ApiKey realm="api"');
    expect(JSON.parse(res.body!)).toMatchObject({
      error: 'missing_key',
      rule: 'api-writes',
      part: 'header x-api-key',
      reason: 'missing',
    });
    expect(requests).toEqual([]);
    expect(storeCalls()).toBe(0);
  });

  it.each([
    [
      'oversized',
      (r: Parameters<typeof setLines>[0]) => setLines(r, 'x-api-key', 'k'.repeat(65)),
      'too-long',
    ],
    [
      'enormous',
      (r: Parameters<typeof setLines>[0]) => setLines(r, 'x-api-key', 'k'.repeat(20_000)),
      'too-long',
    ],
    [
      'non-ASCII',
      (r: Parameters<typeof setLines>[0]) => setLines(r, 'x-api-key', 'clé-ünïcode'),
      'non-ascii',
    ],
    [
      'duplicate differing',
      (r: Parameters<typeof setLines>[0]) => setLines(r, 'x-api-key', 'key-a', 'key-b'),
      'conflicting',
    ],
  ] as const)(
    '%s key header: 401 on a reject rule, IP bucket on an ip rule',
    async (_name, edit, reason) => {
      const reject = setup();
      const res = asResponse(await reject.handler(requestEvent('viewer-request-post-ipv6', edit)));
      expect(res.status).toBe('401');
      expect(JSON.parse(res.body!)).toMatchObject({ reason });
      expect(reject.storeCalls()).toBe(0);

      const fallback = setup();
      asRequest(await fallback.handler(demo(edit)));
      expect(fallback.requests).toEqual([
        { policyId: 'demo', key: 'ip:203.0.113.178', costTokens: 1 },
      ]);
    },
  );

  it('keys IPv6 viewers by their /64', async () => {
    const { handler, requests } = setup();
    const edit = (ip: string) => (r: Parameters<typeof setLines>[0]) => {
      r.uri = '/shadow/x';
      r.clientIp = ip;
    };
    await handler(
      requestEvent('viewer-request-post-ipv6', edit('2001:0db8:85a3:0000:0000:8a2e:0370:7334')),
    );
    await handler(requestEvent('viewer-request-post-ipv6', edit('2001:db8:85a3::ffff:1')));
    expect(requests.map((r) => r.key)).toEqual([
      'ip:2001:db8:85a3:0::/64',
      'ip:2001:db8:85a3:0::/64',
    ]);
  });

  it('keys a missing viewer IP into one shared, bounded bucket', async () => {
    const { handler, requests } = setup();
    await handler(
      demo((r) => {
        r.uri = '/shadow/x';
        (r as { clientIp?: string }).clientIp = undefined;
      }),
    );
    expect(requests[0]).toMatchObject({ key: 'ip:unknown' });
  });

  it('reads the JWT subject without verifying it', async () => {
    const { handler, requests } = setup();
    asRequest(await handler(requestEvent('viewer-request-jwt')));
    expect(requests).toEqual([{ policyId: 'reads', key: 'auth0|65f1c0de', costTokens: 1 }]);
  });

  it('answers 401 with a Bearer challenge when the token is unusable', async () => {
    const { handler } = setup();
    const res = asResponse(
      await handler(
        requestEvent('viewer-request-jwt', (r) => setLines(r, 'authorization', 'Bearer not-a-jwt')),
      ),
    );
    expect(res.status).toBe('401');
    expect(header(res.headers, 'www-authenticate')).toBe('Bearer realm="api"');
    expect(JSON.parse(res.body!)).toMatchObject({ part: 'jwt sub', reason: 'malformed-token' });
  });

  it('combines constant, decoded query and IP parts, and prices by method', async () => {
    const { handler, requests } = setup();
    await handler(
      demo((r) => {
        r.uri = '/t/x/items';
        r.querystring = 'tenant=acme%7Cco&x=1';
      }),
    );
    await handler(
      demo((r) => {
        r.uri = '/t/x/items';
        r.querystring = 'tenant=acme';
        (r as { method: string }).method = 'DELETE';
      }),
    );
    expect(requests).toEqual([
      { policyId: 'tenants', key: 'tenant|acme\\|co|ip:203.0.113.178', costTokens: 1 },
      { policyId: 'tenants', key: 'tenant|acme|ip:203.0.113.178', costTokens: 2 },
    ]);
  });

  it('matches rules by host', async () => {
    const { handler, requests } = setup();
    await handler(demo((r) => setLines(r, 'host', 'Admin.Example.com:443')));
    expect(requests[0]).toMatchObject({ policyId: 'admin', key: 'ip:203.0.113.178' });
  });

  it('passes a path that matches no rule through untouched, without a limiter call', async () => {
    const { handler, requests, storeCalls } = setup();
    const event = demo((r) => {
      r.uri = '/static/logo.png';
    });
    const original = structuredClone(event.Records[0]!.cf.request);
    expect(await handler(event)).toEqual(original);
    expect(requests).toEqual([]);
    expect(storeCalls()).toBe(0);
  });

  it('applies the default rule to paths no rule matches', async () => {
    const { handler, requests } = setup(edgeTestConfig({ defaultRule: 'shadow' }));
    await handler(
      demo((r) => {
        r.uri = '/static/logo.png';
      }),
    );
    expect(requests[0]).toMatchObject({ policyId: 'shadowed', key: 'ip:203.0.113.178' });
  });

  it('refuses an event that is not a viewer-request event', async () => {
    const { handler } = setup();
    await expect(handler({ Records: [] } as unknown as CloudFrontRequestEvent)).rejects.toThrow(
      EdgeEventError,
    );
  });
});

describe('costs from the declared body size', () => {
  const post = (lines: string[] | undefined) =>
    requestEvent('viewer-request-post-ipv6', (r) => {
      if (lines === undefined) delete r.headers['content-length'];
      else setLines(r, 'content-length', ...lines);
    });

  it.each([
    ['2500 bytes', ['2500'], 3],
    ['0 bytes', ['0'], 1],
    ['negative', ['-1'], 8],
    ['huge', ['9'.repeat(40)], 8],
    ['non-numeric', ['ten'], 8],
    ['conflicting (a lie in one of two lines)', ['10', '900000'], 8],
    ['absent on a POST', undefined, 8],
  ] as const)('content-length %s', async (_name, lines, tokens) => {
    const { handler, requests } = setup();
    await handler(post(lines as string[] | undefined));
    expect(requests).toEqual([{ policyId: 'writes', key: 'key-bob-0002', costTokens: tokens }]);
  });

  it('charges the body CloudFront shows (include-body) when the content-length lies low', async () => {
    const { handler, requests } = setup();
    await handler(
      requestEvent('viewer-request-post-ipv6', (r) => {
        setLines(r, 'content-length', '1');
        r.body = {
          action: 'read-only',
          data: Buffer.alloc(5000).toString('base64'),
          encoding: 'base64',
          inputTruncated: false,
        };
      }),
    );
    expect(requests[0]?.costTokens).toBe(5);
  });
});

describe('shadow mode', () => {
  it('never blocks, tells the origin what it would have done, counts it, and hides headers from clients', async () => {
    const { handler, metrics } = setup();
    const event = () =>
      demo((r) => {
        r.uri = '/shadow/page';
      });
    const verdicts: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) {
      const forwarded = asRequest(await handler(event()));
      verdicts.push(header(forwarded.headers, 'x-ratelimit-shadow'));
      const out = await responseHandler(responseEvent(forwarded));
      // The origin's own RateLimit header is left alone; ours are not added.
      expect(header(out?.headers, 'ratelimit')).toBe('"origin";r=1;t=1');
      expect(out?.headers?.['ratelimit-policy']).toBeUndefined();
    }
    expect(verdicts).toEqual([
      'would-allow',
      'would-allow',
      'would-refuse',
      'would-refuse',
      'would-refuse',
    ]);
    const outcomes = metrics.of('decision').map((d) => d.outcome);
    expect(outcomes.filter((o) => o === 'shadow-refused')).toHaveLength(3);
  });
});

describe('allow and deny lists', () => {
  const listed = (key: string) =>
    demo((r) => {
      r.uri = '/listed/x';
      setLines(r, 'x-api-key', key);
    });

  it('answers 403 to a denylisted key, without a store call', async () => {
    const { handler, storeCalls } = setup();
    const res = asResponse(await handler(listed('enemy')));
    expect(res.status).toBe('403');
    expect(JSON.parse(res.body!)).toMatchObject({ error: 'forbidden', policy: 'listed' });
    expect(header(res.headers, 'cache-control')).toBe('no-store');
    expect(storeCalls()).toBe(0);
  });

  it('never limits an allowlisted key', async () => {
    const { handler, storeCalls } = setup();
    for (let i = 0; i < 5; i++) asRequest(await handler(listed('friend')));
    expect(storeCalls()).toBe(0);
    asRequest(await handler(listed('stranger')));
    expect(asResponse(await handler(listed('stranger'))).status).toBe('429');
  });
});

describe('store failures', () => {
  it('forward with x-ratelimit-fallback when the policy fails open', async () => {
    const { handler, store } = setup();
    store.fault = 'unavailable';
    const forwarded = asRequest(await handler(demo()));
    expect(header(forwarded.headers, 'x-ratelimit-fallback')).toBe('open');
  });

  it('answer 503 with Retry-After when the policy fails closed', async () => {
    const { handler, store } = setup();
    store.fault = 'throttled';
    const res = asResponse(
      await handler(
        demo((r) => {
          r.uri = '/strict/x';
        }),
      ),
    );
    expect(res.status).toBe('503');
    expect(header(res.headers, 'retry-after')).toBe('1');
    expect(JSON.parse(res.body!)).toMatchObject({ error: 'limiter_unavailable', policy: 'strict' });
  });

  it('treat an unexpected limiter failure like a store failure of the policy, and log it', async () => {
    const config = edgeTestConfig();
    const logs: Record<string, unknown>[] = [];
    const handler = createViewerRequestHandler({
      rules: compileRules(config),
      limiter: { limitAll: () => Promise.reject(new TypeError('boom')) },
      log: (e) => logs.push({ ...e }),
    });
    expect(header(asRequest(await handler(demo())).headers, 'x-ratelimit-fallback')).toBe('error');
    const strict = asResponse(
      await handler(
        demo((r) => {
          r.uri = '/strict/x';
        }),
      ),
    );
    expect(strict.status).toBe('503');
    expect(logs).toHaveLength(2);
    expect(logs[0]).toMatchObject({ level: 'error', rule: 'demo', error: 'TypeError: boom' });
  });
});
