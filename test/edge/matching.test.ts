/**
 * Matching that cannot be dodged, through the viewer-request handler: every
 * spelling of a `demo` path the audit found is charged to `demo` with the
 * shipped config, ambiguous requests are answered 400 before any limiter
 * call, CIDR deny lists refuse IPv6 clients in range, and `x_ratelimit_*`
 * headers are stripped like `x-ratelimit-*` ones.
 */
import type {
  CloudFrontRequest,
  CloudFrontRequestResult,
  CloudFrontResultResponse,
} from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { LimiterConfig } from '../../functions/config/schema';
import { compileRules } from '../../functions/edge/rule-match';
import { createViewerRequestHandler, type EdgeLimiter } from '../../functions/edge/viewer-request';
import { Limiter } from '../../functions/limiter/limiter';
import type { LimitRequest } from '../../functions/limiter/types';
import projectConfig from '../../limiter.config';
import { ManualClock, RecordingMetrics } from '../limiter/fixtures';
import { MemoryStore } from '../limiter/memory-store';
import { edgeTestConfig, type MutableRequest, requestEvent, setLines } from './fixtures';

function setup(config: LimiterConfig) {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const limiter = new Limiter({
    config,
    region: 'eu-west-1',
    store,
    clock: clock.now,
    metrics: new RecordingMetrics(),
  });
  const requests: LimitRequest[] = [];
  const spy: EdgeLimiter = {
    limitAll: (batch) => {
      requests.push(...batch);
      return limiter.limitAll(batch);
    },
  };
  const handler = createViewerRequestHandler({
    rules: compileRules(config),
    limiter: spy,
    clock: clock.now,
    log: () => {},
  });
  const storeCalls = () => store.calls.readView + store.calls.readSlot + store.calls.applyWrite;
  return { handler, requests, storeCalls };
}

function asRequest(result: CloudFrontRequestResult): CloudFrontRequest {
  if (result == null || 'status' in result) {
    throw new Error(`expected a forwarded request, got ${JSON.stringify(result)}`);
  }
  return result;
}

function asResponse(result: CloudFrontRequestResult): CloudFrontResultResponse {
  if (result == null || !('status' in result)) {
    throw new Error(`expected a generated response, got ${JSON.stringify(result)}`);
  }
  return result;
}

const get = (edit: (r: MutableRequest) => void) => requestEvent('viewer-request-get-ipv4', edit);

/** The audit's spellings of `/demo/x`, each of which reached `global-cap` before. */
const AUDIT_URIS = [
  '/DEMO/x',
  '/Demo/x',
  '/demo./x',
  '/demo%2Fx',
  '/demo;a=b/x',
  '/demo\\x',
  '/demo%20/x',
  '/demo%5Cx',
  '/public/..;/demo/x',
];

describe('the shipped config through the edge', () => {
  it.each(AUDIT_URIS)('charges %s to the demo policy and forwards the uri as sent', async (uri) => {
    const { handler, requests } = setup(projectConfig);
    const forwarded = asRequest(await handler(get((r) => (r.uri = uri))));
    expect(requests.map((r) => r.policyId)).toEqual(['demo', 'demo-ip', 'global-cap']);
    expect(forwarded.uri).toBe(uri);
    expect(forwarded.headers['x-ratelimit-policy']?.[0]?.value).toMatch(/^"demo";q=10;w=10, /);
  });

  it('drains one demo bucket whatever the spelling: the eleventh request is refused', async () => {
    const { handler } = setup(projectConfig);
    const statuses: string[] = [];
    for (const uri of [...AUDIT_URIS, '/demo/x', '/DeMo./x']) {
      const result = await handler(get((r) => (r.uri = uri)));
      statuses.push(result != null && 'status' in result ? String(result.status) : 'forwarded');
    }
    expect(statuses).toEqual([...new Array(10).fill('forwarded'), '429']);
  });
});

describe('ambiguous requests', () => {
  it('answer 400 to two Host lines, with a JSON body and no limiter call', async () => {
    const { handler, requests, storeCalls } = setup(projectConfig);
    const event = get((r) => setLines(r, 'host', 'api.example.com', 'admin.example.com'));
    const res = asResponse(await handler(event));
    expect(res.status).toBe('400');
    expect(res.headers?.['content-type']?.[0]?.value).toMatch(/^application\/json/);
    expect(res.headers?.['cache-control']?.[0]?.value).toBe('no-store');
    expect(JSON.parse(res.body!)).toMatchObject({
      error: 'ambiguous_request',
      part: 'host',
      reason: 'several-host-lines',
    });
    expect(requests).toEqual([]);
    expect(storeCalls()).toBe(0);
  });

  it('answer 400 to two equal Host lines too', async () => {
    const { handler } = setup(projectConfig);
    const event = get((r) => setLines(r, 'host', 'api.example.com', 'api.example.com'));
    expect(asResponse(await handler(event)).status).toBe('400');
  });

  it.each([
    ['/demo%00/x', 'control-character'],
    ['/demo/x%00.json', 'control-character'],
    ['/demo%zz', 'malformed-escape'],
    ['/.../demo/x', 'dot-segment'],
  ])('answer 400 to the path %s (%s), on any path, limited or not', async (uri, reason) => {
    const { handler, requests } = setup(edgeTestConfig());
    const res = asResponse(await handler(get((r) => (r.uri = uri))));
    expect(res.status).toBe('400');
    expect(JSON.parse(res.body!)).toMatchObject({ part: 'path', reason });
    expect(requests).toEqual([]);
  });

  it('match host rules on the normalised host: trailing dots, case and port do not dodge', async () => {
    const { handler, requests } = setup(edgeTestConfig());
    for (const host of ['admin.example.com..', 'ADMIN.example.com.:443']) {
      asRequest(await handler(get((r) => setLines(r, 'host', host))));
    }
    expect(requests.map((r) => r.policyId)).toEqual(['admin', 'admin']);
  });
});

describe('CIDR deny lists', () => {
  /** The edge test config with the `strict` policy (keyed by IP) denying one IPv6 /48 and one IPv4 /24. */
  const config = () => {
    const base = edgeTestConfig();
    return edgeTestConfig({
      policies: base.policies.map((p) =>
        p.id === 'strict' ? { ...p, denyKeys: ['ip:2001:DB8:85A3::/48', 'ip:198.51.100.0/24'] } : p,
      ),
    });
  };
  const strict = (clientIp: string) =>
    requestEvent('viewer-request-post-ipv6', (r) => {
      r.uri = '/strict/x';
      r.method = 'GET';
      r.clientIp = clientIp;
    });

  it.each([
    '2001:0db8:85a3:0000:0000:8a2e:0370:7334',
    '2001:db8:85a3:ffff::1',
    '198.51.100.7',
    '::ffff:198.51.100.7',
  ])('answer 403 to %s, in a denied range, without a store call', async (clientIp) => {
    const { handler, storeCalls } = setup(config());
    const res = asResponse(await handler(strict(clientIp)));
    expect(res.status).toBe('403');
    expect(JSON.parse(res.body!)).toMatchObject({ error: 'forbidden', policy: 'strict' });
    expect(storeCalls()).toBe(0);
  });

  it.each(['2001:db8:85a4::1', '198.51.101.7'])(
    'let %s, outside every range, through',
    async (clientIp) => {
      const { handler, requests } = setup(config());
      asRequest(await handler(strict(clientIp)));
      expect(requests.map((r) => r.policyId)).toEqual(['strict']);
    },
  );
});

describe('spoofed decision headers with underscores', () => {
  it('are removed like the dashed ones, whatever their case', async () => {
    const { handler } = setup(edgeTestConfig());
    const forwarded = asRequest(
      await handler(
        get((r) => {
          r.uri = '/static/logo.png';
          setLines(r, 'x_ratelimit_remaining', '999');
          setLines(r, 'X_RateLimit_Policy', '"demo";q=999;w=1');
          setLines(r, 'x-ratelimit_shadow', 'would-allow');
          setLines(r, 'x_ratelimitless', 'kept');
        }),
      ),
    );
    expect(Object.keys(forwarded.headers).sort()).toEqual(
      [
        'accept',
        'cloudfront-viewer-country',
        'host',
        'user-agent',
        'x-api-key',
        'x_ratelimitless',
      ].sort(),
    );
  });
});
