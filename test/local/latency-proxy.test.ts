/**
 * The delaying proxy in front of a replica: each call waits at least the
 * round trip it drew from the network model (half before the store sees it),
 * the draws follow the seed, and what passes is unchanged. Only lower bounds
 * are asserted: a slow machine adds time, never takes it away.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LatencyProxy } from '../../local/latency-proxy';
import { type LinkModel, sampleRoundTripMs, storeRoundTrip } from '../../sim/network/model';
import { mulberry32 } from '../../sim/prng';

const SEED = 42;
/** São Paulo's edge to its default replica: about 118 ms. */
const LINK: LinkModel = storeRoundTrip('sa-east-1', 'us-east-1');

/** An upstream that echoes the body and records when each request arrived. */
function echoUpstream() {
  const arrivals: number[] = [];
  const server = http.createServer((req, res) => {
    arrivals.push(performance.now());
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.writeHead(201, { 'content-type': 'application/x-amz-json-1.0', 'x-echo': 'yes' });
      res.end(body);
    });
  });
  return { server, arrivals };
}

async function post(url: string, body: string) {
  const sentMs = performance.now();
  const res = await fetch(url, { method: 'POST', body });
  const text = await res.text();
  return {
    status: res.status,
    text,
    headers: res.headers,
    sentMs,
    elapsedMs: performance.now() - sentMs,
  };
}

describe('LatencyProxy', () => {
  const upstream = echoUpstream();
  let upstreamUrl: string;
  let proxy: LatencyProxy;
  const samples: number[] = [];

  beforeAll(async () => {
    await new Promise<void>((resolve) => upstream.server.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}`;
    proxy = await LatencyProxy.start({
      upstream: upstreamUrl,
      link: LINK,
      random: mulberry32(SEED),
      onSample: (ms) => samples.push(ms),
    });
  });
  afterAll(async () => {
    await proxy.stop();
    await new Promise((resolve) => upstream.server.close(resolve));
  });

  it('delays every call by at least its sampled round trip, half of it before the store', async () => {
    const calls = [];
    for (let i = 0; i < 5; i++) calls.push(await post(proxy.url, `{"n":${i}}`));
    expect(samples).toHaveLength(5);
    for (const [i, call] of calls.entries()) {
      const sampled = samples[i]!;
      expect(sampled).toBeGreaterThanOrEqual(LINK.floorMs);
      expect(call.elapsedMs).toBeGreaterThanOrEqual(sampled);
      expect(upstream.arrivals[i]! - call.sentMs).toBeGreaterThanOrEqual(sampled / 2);
    }
    expect(proxy.stats()).toMatchObject({ requests: 5 });
    expect(proxy.stats().minDelayMs).toBe(Math.min(...samples));
  });

  it('draws the round trips the seed gives', () => {
    const random = mulberry32(SEED);
    const expected = samples.map(() => sampleRoundTripMs(LINK, random));
    expect(samples).toEqual(expected);
  });

  it('passes the status, headers and body through unchanged', async () => {
    const call = await post(proxy.url, '{"TableName":"buckets"}');
    expect(call.status).toBe(201);
    expect(call.text).toBe('{"TableName":"buckets"}');
    expect(call.headers.get('x-echo')).toBe('yes');
  });

  it('answers a 500 in DynamoDB’s shape, after the delay, when the upstream is gone', async () => {
    const dead = await LatencyProxy.start({
      upstream: 'http://127.0.0.1:1',
      link: LINK,
      random: mulberry32(1),
    });
    try {
      const sampled = sampleRoundTripMs(LINK, mulberry32(1));
      const call = await post(dead.url, '{}');
      expect(call.status).toBe(500);
      expect(JSON.parse(call.text).__type).toMatch(/#InternalServerError$/);
      expect(call.elapsedMs).toBeGreaterThanOrEqual(sampled);
    } finally {
      await dead.stop();
    }
  });

  it('refuses an upstream that is not http://', async () => {
    await expect(
      LatencyProxy.start({ upstream: 'https://127.0.0.1:1', link: LINK, random: Math.random }),
    ).rejects.toThrow(/upstream must be an http:\/\/ URL/);
  });
});
