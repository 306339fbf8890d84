import type {
  CloudFrontRequestEvent,
  CloudFrontRequestResult,
  CloudFrontResponseEvent,
} from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type EchoBody, type EchoOrigin, startEchoOrigin } from '../../local/echo-origin';
import { type EdgeServer, startEdgeServer } from '../../local/edge-server';
import { type EdgeCounters, emptyCounters } from '../../local/status';

/**
 * The local edge against test-double handlers: what CloudFront does with
 * each kind of result, independent of the project's edge handler.
 */
describe('edge server', () => {
  let origin: EchoOrigin;
  let edge: EdgeServer;
  let counters: EdgeCounters;
  const events: CloudFrontRequestEvent[] = [];
  const responseEvents: CloudFrontResponseEvent[] = [];
  let behaviour: (event: CloudFrontRequestEvent) => Promise<CloudFrontRequestResult>;

  beforeAll(async () => {
    origin = await startEchoOrigin(0);
    counters = emptyCounters();
    edge = await startEdgeServer({
      region: 'eu-west-1',
      port: 0,
      originUrl: origin.url,
      counters,
      functions: {
        viewerRequest: (event) => {
          events.push(structuredClone(event));
          return behaviour(event);
        },
        viewerResponse: async (event) => {
          responseEvents.push(structuredClone(event));
          const { response, request } = event.Records[0]!.cf;
          const seen = request.headers['x-ratelimit-remaining']?.[0]?.value ?? 'none';
          response.headers.ratelimit = [{ key: 'RateLimit', value: `"demo";r=${seen}` }];
          return response;
        },
      },
    });
  });
  afterAll(async () => {
    await edge.stop();
    await origin.stop();
  });
  beforeEach(() => {
    events.length = 0;
    responseEvents.length = 0;
  });

  it('sends the handler a real viewer-request event', async () => {
    behaviour = async (event) => event.Records[0]!.cf.request;
    await fetch(`${edge.url}/demo/a%20b?x=1&y=2`, {
      headers: { 'X-Api-Key': 'alice', 'x-multi': 'one' },
    });
    const cf = events[0]!.Records[0]!.cf;
    expect(cf.config.eventType).toBe('viewer-request');
    expect(cf.config.distributionDomainName).toMatch(/\.cloudfront\.net$/);
    expect(cf.config.distributionId).toMatch(/^E[A-Z0-9]+$/);
    expect(cf.config.requestId).toMatch(/^[A-Za-z0-9_-]{56}$/);
    expect(cf.request).toMatchObject({
      clientIp: '127.0.0.1',
      method: 'GET',
      uri: '/demo/a%20b',
      querystring: 'x=1&y=2',
    });
    expect(cf.request.headers['x-api-key']).toEqual([{ key: 'X-Api-Key', value: 'alice' }]);
    expect(cf.request.headers.host?.[0]?.value).toBe(new URL(edge.url).host);
    for (const [name, list] of Object.entries(cf.request.headers)) {
      expect(name).toBe(name.toLowerCase());
      for (const entry of list) expect(entry.key?.toLowerCase()).toBe(name);
    }
  });

  it('proxies a modified request to the origin and applies the viewer-response handler', async () => {
    const before = counters.allowed;
    behaviour = async (event) => {
      const request = event.Records[0]!.cf.request;
      request.headers['x-ratelimit-remaining'] = [{ key: 'X-RateLimit-Remaining', value: '7' }];
      request.uri = '/rewritten';
      return request;
    };
    const res = await fetch(`${edge.url}/demo/hello?q=1`, { method: 'POST', body: 'abc' });
    const echo = (await res.json()) as EchoBody;
    expect(res.status).toBe(200);
    expect(echo.path).toBe('/rewritten?q=1');
    expect(echo.method).toBe('POST');
    expect(echo.bodyBytes).toBe(3);
    expect(echo.rateLimitHeaders).toEqual({ 'x-ratelimit-remaining': '7' });
    expect(echo.cfId).toBe(events[0]!.Records[0]!.cf.config.requestId);
    expect(res.headers.get('ratelimit')).toBe('"demo";r=7');
    expect(res.headers.get('x-cache')).toBe('Miss from cloudfront');
    expect(responseEvents[0]!.Records[0]!.cf.config.eventType).toBe('viewer-response');
    expect(responseEvents[0]!.Records[0]!.cf.response.status).toBe('200');
    expect(counters.allowed).toBe(before + 1);
  });

  it('returns a generated response without calling the origin or the viewer-response handler', async () => {
    const originBefore = origin.requests();
    const refusedBefore = counters.refused;
    behaviour = async () => ({
      status: '429',
      statusDescription: 'Too Many Requests',
      headers: {
        'retry-after': [{ key: 'Retry-After', value: '1' }],
        'content-type': [{ key: 'Content-Type', value: 'application/json' }],
      },
      body: '{"error":"rate limited"}',
    });
    const res = await fetch(`${edge.url}/demo/x`);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('x-cache')).toBe('LambdaGeneratedResponse from cloudfront');
    expect(await res.json()).toEqual({ error: 'rate limited' });
    expect(origin.requests()).toBe(originBefore);
    expect(responseEvents).toHaveLength(0);
    expect(counters.refused).toBe(refusedBefore + 1);
  });

  it('decodes a base64 generated body', async () => {
    behaviour = async () => ({
      status: '403',
      bodyEncoding: 'base64',
      body: Buffer.from('denied').toString('base64'),
    });
    const res = await fetch(`${edge.url}/`);
    expect(res.status).toBe(403);
    expect(await res.text()).toBe('denied');
  });

  it('answers 503 when the handler throws, and 502 when its result is invalid', async () => {
    const errorsBefore = counters.errors;
    behaviour = async () => {
      throw new Error('boom');
    };
    expect((await fetch(`${edge.url}/`)).status).toBe(503);
    behaviour = async () => ({ status: 'abc' });
    expect((await fetch(`${edge.url}/`)).status).toBe(502);
    behaviour = async () => ({ status: '200', body: 'x'.repeat(41 * 1024) });
    expect((await fetch(`${edge.url}/`)).status).toBe(502);
    behaviour = async () => ({ status: '200', headers: { 'X-Upper': [{ value: 'v' }] } });
    expect((await fetch(`${edge.url}/`)).status).toBe(502);
    expect(counters.errors).toBe(errorsBefore + 4);
  });
});
