/**
 * The middleware in a real `node:http` server on loopback: a request with the
 * secret reaches the application without the header, one without it gets a
 * JSON 403 and never reaches it, and 503 when no secret could be loaded.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  OriginGuard,
  originGuardMiddleware,
  type SecretSource,
} from '../../functions/origin-guard';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(source: SecretSource) {
  const seen: IncomingHttpHeaders[] = [];
  const refused: string[] = [];
  const guard = new OriginGuard({ source });
  const guardRequest = originGuardMiddleware(guard, {
    onRefused: (verdict) => refused.push(verdict.reason),
  });
  const server = createServer((req, res) =>
    guardRequest(req, res, () => {
      seen.push(req.headers);
      res.end('origin');
    }),
  );
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/x`;
  return { url, seen, refused };
}

const fixed = (values: string[]): SecretSource => ({ load: async () => values });

describe('originGuardMiddleware', () => {
  it('passes a request with the secret on, without the header', async () => {
    const { url, seen } = await serve(fixed(['s3cret']));
    const res = await fetch(url, { headers: { 'x-origin-verify': 's3cret', 'x-api-key': 'k' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('origin');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.['x-origin-verify']).toBeUndefined();
    expect(seen[0]?.['x-api-key']).toBe('k');
  });

  it('answers 403 JSON to a direct call, forged rate-limit headers or not', async () => {
    const { url, seen, refused } = await serve(fixed(['s3cret']));
    const res = await fetch(url, {
      headers: { 'x-ratelimit-remaining': '999', 'x-origin-verify': 'guess' },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({
      error: 'forbidden',
      message: 'requests must come through the CloudFront distribution',
    });
    const missing = await fetch(url);
    expect(missing.status).toBe(403);
    expect(seen).toHaveLength(0);
    expect(refused).toEqual(['mismatch', 'missing']);
  });

  it('answers 503 when the secret cannot be loaded', async () => {
    const { url, seen } = await serve({
      load: async () => {
        throw new Error('no credentials');
      },
    });
    const res = await fetch(url, { headers: { 'x-origin-verify': 's3cret' } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toBe('unavailable');
    expect(seen).toHaveLength(0);
  });
});
