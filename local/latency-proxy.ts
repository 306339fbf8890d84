/**
 * A delaying HTTP proxy: what puts the distance between an emulated edge
 * region and its table replica.
 *
 * Why: every emulated region runs on this machine, where a store call costs
 * a loopback hop. In front of a replica's endpoint, one proxy per (edge
 * region, replica) draws each call's round trip from the network model
 * (sim/network/model.ts, seeded) and holds the request for half of it before
 * forwarding and the answer for the other half before replying, as a request
 * and its answer each cross the distance once. The hold is never shorter than
 * drawn (timers may fire early by a millisecond; the proxy waits until the
 * monotonic clock has passed the deadline), so a caller always sees at least
 * the sampled round trip, plus what loopback and the store take.
 *
 * Requests and answers pass unchanged (whole bodies, status, headers); an
 * upstream that fails is answered with a 500 in DynamoDB's JSON shape, after
 * the same delay.
 */

import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { type LinkModel, sampleRoundTripMs } from '../sim/network/model';
import { closeServer, LOOPBACK, listen, readBody } from './http-util';

/** Options of {@link LatencyProxy.start}. */
export interface LatencyProxyOptions {
  /** Base URL of the endpoint to forward to (`http://127.0.0.1:port`). */
  readonly upstream: string;
  /** The round trip to emulate. */
  readonly link: LinkModel;
  /** Uniform numbers in [0, 1): a seeded stream for repeatable delays. */
  readonly random: () => number;
  /** Port to listen on; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** What the proxy is, for a port-in-use error. @default 'latency proxy' */
  readonly role?: string;
  /** Called with each request's sampled round trip (ms), when it is drawn. */
  readonly onSample?: (roundTripMs: number) => void;
}

/** Counters of one proxy. */
export interface LatencyProxyStats {
  /** Requests answered (forwarded or failed). */
  readonly requests: number;
  /** Sum, smallest and largest of the sampled round trips (ms); undefined before the first. */
  readonly totalDelayMs: number;
  readonly minDelayMs: number | undefined;
  readonly maxDelayMs: number | undefined;
}

const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** Resolves once the monotonic clock has reached `deadlineMs` (never before). */
async function waitUntil(deadlineMs: number): Promise<void> {
  for (;;) {
    const leftMs = deadlineMs - performance.now();
    if (leftMs <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, Math.ceil(leftMs)));
  }
}

/** A running delaying proxy. */
export class LatencyProxy {
  private requests = 0;
  private totalDelayMs = 0;
  private minDelayMs: number | undefined;
  private maxDelayMs: number | undefined;
  private readonly upstreamUrl: URL;

  private constructor(
    private readonly options: LatencyProxyOptions,
    private readonly server: http.Server,
    /** The proxy's base URL. */
    readonly url: string,
  ) {
    this.upstreamUrl = new URL(options.upstream);
  }

  /** Starts a proxy on loopback. */
  static async start(options: LatencyProxyOptions): Promise<LatencyProxy> {
    const upstream = new URL(options.upstream);
    if (upstream.protocol !== 'http:') {
      throw new RangeError(
        `latency proxy: upstream must be an http:// URL (got ${options.upstream})`,
      );
    }
    let proxy: LatencyProxy | undefined;
    const server = http.createServer((req, res) => {
      proxy?.handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    server.keepAliveTimeout = 5_000;
    const port = await listen(server, options.port ?? 0, options.role ?? 'latency proxy');
    proxy = new LatencyProxy(options, server, `http://${LOOPBACK}:${port}`);
    return proxy;
  }

  /** The link this proxy emulates. */
  get link(): LinkModel {
    return this.options.link;
  }

  stats(): LatencyProxyStats {
    return {
      requests: this.requests,
      totalDelayMs: this.totalDelayMs,
      minDelayMs: this.minDelayMs,
      maxDelayMs: this.maxDelayMs,
    };
  }

  /** Closes the proxy and its connections. */
  stop(): Promise<void> {
    return closeServer(this.server);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const startMs = performance.now();
    const roundTripMs = sampleRoundTripMs(this.options.link, this.options.random);
    this.options.onSample?.(roundTripMs);
    const body = await readBody(req);
    const requestHalfMs = roundTripMs / 2;
    await waitUntil(startMs + requestHalfMs);
    let answer: { status: number; headers: http.IncomingHttpHeaders; body: Buffer };
    try {
      answer = await this.forward(req, body);
    } catch (error) {
      answer = {
        status: 500,
        headers: { 'content-type': 'application/x-amz-json-1.0' },
        body: Buffer.from(
          JSON.stringify({
            __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
            message: `latency proxy: upstream failed: ${String(error)}`,
          }),
        ),
      };
    }
    // The answer crosses the distance after it exists: the other half from now.
    await waitUntil(performance.now() + (roundTripMs - requestHalfMs));
    this.requests++;
    this.totalDelayMs += roundTripMs;
    this.minDelayMs = Math.min(this.minDelayMs ?? roundTripMs, roundTripMs);
    this.maxDelayMs = Math.max(this.maxDelayMs ?? roundTripMs, roundTripMs);
    if (res.destroyed) return;
    const headers = { ...answer.headers };
    delete headers['transfer-encoding'];
    delete headers.connection;
    headers['content-length'] = String(answer.body.length);
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  }

  private forward(
    req: http.IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const upstream = http.request(
        {
          host: this.upstreamUrl.hostname,
          port: this.upstreamUrl.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, 'content-length': String(body.length) },
          agent: upstreamAgent,
        },
        (answer) => {
          readBody(answer).then(
            (answerBody) =>
              resolve({
                status: answer.statusCode ?? 500,
                headers: answer.headers,
                body: answerBody,
              }),
            reject,
          );
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });
  }
}
