import type { CloudFrontRequest } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { clientRateLimitHeaders, responseHandler } from '../../functions/edge/response-handler';
import { requestEvent, responseEvent, setLines } from './fixtures';

function decided(lines: Record<string, string | string[]>): CloudFrontRequest {
  const request = requestEvent('viewer-request-get-ipv4').Records[0]!.cf.request;
  for (const [name, value] of Object.entries(lines)) {
    setLines(request, name, ...(Array.isArray(value) ? value : [value]));
  }
  return request;
}

const valid = {
  'x-ratelimit-limit': '100',
  'x-ratelimit-remaining': '42',
  'x-ratelimit-reset': '7',
  'x-ratelimit-retry-after': '3',
  'x-ratelimit-policy': '"api";q=100;w=2',
  'x-ratelimit-state': '"api";r=42;t=3',
};

const several = {
  ...valid,
  'x-ratelimit-policy': '"api";q=100;w=2, "api-ip";q=20;w=20, "api-monthly";q=1000000;w=2678400',
  'x-ratelimit-state': '"api";r=42;t=3, "api-ip";r=7;t=0, "api-monthly";r=999000;t=0',
};

describe('responseHandler (viewer-response)', () => {
  it('copies the decision into RateLimit and RateLimit-Policy, replacing the origin’s', async () => {
    const out = await responseHandler(responseEvent(decided(valid)));
    expect(out?.headers?.ratelimit).toEqual([{ key: 'RateLimit', value: '"api";r=42;t=3' }]);
    expect(out?.headers?.['ratelimit-policy']).toEqual([
      { key: 'RateLimit-Policy', value: '"api";q=100;w=2' },
    ]);
    expect(out?.headers?.server).toEqual([{ key: 'Server', value: 'ExampleOrigin' }]);
  });

  it('copies every limit of a request charged to several, in order', async () => {
    const out = await responseHandler(responseEvent(decided(several)));
    expect(out?.headers?.ratelimit).toEqual([
      { key: 'RateLimit', value: several['x-ratelimit-state'] },
    ]);
    expect(out?.headers?.['ratelimit-policy']).toEqual([
      { key: 'RateLimit-Policy', value: several['x-ratelimit-policy'] },
    ]);
  });

  it('leaves the response alone when the request carries no decision (no rule matched)', async () => {
    const event = responseEvent();
    const before = structuredClone(event.Records[0]!.cf.response);
    expect(await responseHandler(event)).toEqual(before);
  });

  it.each([
    [
      'a header injection in the policy',
      { 'x-ratelimit-policy': '"api";q=1;w=1\r\nSet-Cookie: a=b' },
    ],
    ['an upper-case policy name', { 'x-ratelimit-policy': '"API";q=1;w=1' }],
    ['a negative remaining count', { 'x-ratelimit-state': '"api";r=-1;t=3' }],
    ['a non-numeric wait', { 'x-ratelimit-state': '"api";r=42;t=soon' }],
    ['two state lines', { 'x-ratelimit-state': ['"api";r=1;t=0', '"api";r=2;t=0'] }],
    ['lists naming different policies', { 'x-ratelimit-state': '"api";r=42;t=3, "other";r=1;t=0' }],
    ['an injection inside a list', { 'x-ratelimit-state': '"api";r=42;t=3,\r\nX-A: b' }],
    ['a policy list without a state (only shadow policies)', { 'x-ratelimit-state': [] }],
  ])('adds nothing for %s', async (_name, change) => {
    const request = decided({ ...valid, ...change });
    expect(clientRateLimitHeaders(request.headers)).toBeUndefined();
    const out = await responseHandler(responseEvent(request));
    expect(out?.headers?.ratelimit).toEqual([{ key: 'RateLimit', value: '"origin";r=1;t=1' }]);
    expect(out?.headers?.['ratelimit-policy']).toBeUndefined();
  });

  it('adds nothing when a decision header is missing', () => {
    const { 'x-ratelimit-policy': _dropped, ...partial } = valid;
    expect(clientRateLimitHeaders(decided(partial).headers)).toBeUndefined();
  });
});
