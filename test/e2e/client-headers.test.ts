/**
 * The RateLimit headers with the default `clientHeaders` ('none'), through
 * the local edge as a client sees it: admitted responses carry none (no
 * viewer-response function runs, as none would be deployed), the origin
 * still receives the decision, and refusals keep theirs (the viewer-request
 * function makes them). single-region.test.ts covers 'viewer-response'.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORIGIN_HEADERS } from '../../functions/edge/responses';
import type { LocalHandle } from '../../local/runtime';
import { startLocal } from '../../local/runtime';
import {
  type EdgeAnswer,
  e2eConfig,
  edgeGet,
  memberOf,
  policyOf,
  VIEWER_IP_HEADER,
} from './harness';

describe('client headers by default', () => {
  let local: LocalHandle;
  const region = 'us-east-1';

  beforeAll(async () => {
    const config = e2eConfig([region]);
    expect(config.clientHeaders).toBeUndefined();
    local = await startLocal({
      config,
      lagMs: 0,
      reconcileEveryMs: 0,
      viewerIpHeader: VIEWER_IP_HEADER,
    });
  });
  afterAll(() => local?.stop());

  it('admits without RateLimit headers, tells the origin, and refuses with them', async () => {
    const demo = policyOf(local.config, 'demo');
    const answers: EdgeAnswer[] = [];
    while (answers.length < demo.capacityTokens + 50 && answers.at(-1)?.status !== 429) {
      answers.push(await edgeGet(local, region, '/demo/default', 'e2e-default', '192.0.2.40'));
    }
    const refused = answers.at(-1) as EdgeAnswer;
    const admitted = answers.slice(0, -1);
    expect(refused.status, `no 429 in ${answers.length} requests`).toBe(429);
    expect(admitted.length).toBeGreaterThanOrEqual(demo.capacityTokens);
    for (const a of admitted) {
      expect(a.status).toBe(200);
      expect(a.headers.get('ratelimit')).toBeNull();
      expect(a.headers.get('ratelimit-policy')).toBeNull();
      expect(memberOf(a.echo?.rateLimitHeaders[ORIGIN_HEADERS.state] ?? null, 'demo')).toMatch(
        /^"demo";r=\d+;t=\d+$/,
      );
    }
    expect(memberOf(refused.headers.get('ratelimit'), 'demo')).toMatch(/^"demo";r=0;t=\d+$/);
    expect(memberOf(refused.headers.get('ratelimit-policy'), 'demo')).toMatch(
      /^"demo";q=\d+;w=\d+$/,
    );
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });
});
