/**
 * A burst limit and a daily quota on one key, through the edge handlers (the
 * viewer-request decision, then the viewer-response headers), on a manual
 * clock: the quota refuses once spent, says when it resets, and starts afresh
 * at midnight in its time zone.
 */
import type {
  CloudFrontRequest,
  CloudFrontRequestResult,
  CloudFrontResultResponse,
} from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { assertConfig, type LimiterConfig } from '../../functions/config/schema';
import { responseHandler } from '../../functions/edge/response-handler';
import { compileRules } from '../../functions/edge/rule-match';
import { createViewerRequestHandler } from '../../functions/edge/viewer-request';
import { Limiter } from '../../functions/limiter/limiter';
import { ManualClock } from '../limiter/fixtures';
import { MemoryStore } from '../limiter/memory-store';
import { requestEvent, responseEvent, setLines } from './fixtures';

/** 23:00 in São Paulo (UTC-3) on 2026-12-01: an hour before its day ends. */
const LATE_EVENING_MS = Date.parse('2026-12-02T02:00:00Z');

function config(): LimiterConfig {
  return assertConfig({
    appName: 'QuotaTest',
    account: '111111111111',
    regions: ['us-east-1', 'sa-east-1'],
    tableName: 'buckets',
    origin: { domainName: 'api.example.com' },
    policies: [
      { id: 'burst', capacityTokens: 10, refillTokens: 10 },
      { id: 'daily', quota: { limit: 3, period: 'day', timeZone: 'America/Sao_Paulo' } },
    ],
    rules: [
      {
        id: 'api',
        match: { path: '/api/**' },
        limits: [
          { policy: 'burst', key: [{ header: 'x-api-key' }] },
          { policy: 'daily', key: [{ header: 'x-api-key' }] },
        ],
      },
    ],
  });
}

function setup() {
  const c = config();
  const clock = new ManualClock(LATE_EVENING_MS);
  const limiter = new Limiter({
    config: c,
    region: 'sa-east-1',
    store: new MemoryStore(),
    clock: clock.now,
  });
  const handler = createViewerRequestHandler({ rules: compileRules(c), limiter, clock: clock.now });
  const get = () =>
    handler(
      requestEvent('viewer-request-get-ipv4', (r) => {
        r.uri = '/api/items';
        setLines(r, 'x-api-key', 'tenant-1');
      }),
    );
  return { clock, get };
}

const isResponse = (r: CloudFrontRequestResult): r is CloudFrontResultResponse =>
  r != null && 'status' in r;
const header = (r: CloudFrontResultResponse, name: string) =>
  r.headers?.[name.toLowerCase()]?.[0]?.value;

describe('a daily quota beside a burst limit, through the edge', () => {
  it('refuses once spent, with the time to its midnight, and starts afresh the next day', async () => {
    const { clock, get } = setup();
    const forwarded: CloudFrontRequest[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await get();
      expect(isResponse(r)).toBe(false);
      forwarded.push(r as CloudFrontRequest);
    }
    // The client's headers name both limits; the quota's window is its day.
    const client = await responseHandler(responseEvent(forwarded[2]));
    expect(client?.headers?.['ratelimit-policy']?.[0]?.value).toBe(
      '"burst";q=10;w=1, "daily";q=3;w=86400',
    );
    // Nothing left today: one more request waits for the day's end, an hour away.
    expect(client?.headers?.ratelimit?.[0]?.value).toMatch(
      /^"burst";r=\d+;t=0, "daily";r=0;t=3600$/,
    );

    const refused = await get();
    if (!isResponse(refused)) throw new Error('expected a 429');
    expect(refused.status).toBe('429');
    expect(JSON.parse(refused.body ?? '{}')).toMatchObject({ policy: 'daily' });
    // An hour to São Paulo's midnight.
    expect(header(refused, 'Retry-After')).toBe('3600');
    expect(header(refused, 'RateLimit')).toMatch(/"daily";r=0;t=3600/);

    clock.advance(59 * 60 * 1000);
    const stillRefused = await get();
    expect(isResponse(stillRefused) && header(stillRefused, 'Retry-After')).toBe('60');

    clock.advance(60 * 1000);
    const nextDay = await get();
    expect(isResponse(nextDay)).toBe(false);
    const headers = (nextDay as CloudFrontRequest).headers;
    expect(headers['x-ratelimit-state']?.[0]?.value).toMatch(/"daily";r=2;t=0$/);
  });
});
