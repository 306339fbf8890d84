/**
 * One region's CloudFront edge, locally: every HTTP request becomes a real
 * viewer-request event for the bundled Lambda@Edge handler, whose result is
 * applied the way CloudFront applies it: a generated response goes straight
 * back to the viewer; a (possibly modified) request is proxied to the origin,
 * and the origin's answer passes the viewer-response handler when there is
 * one (CloudFront skips it for origin statuses of 400 and above). Handler
 * failures become CloudFront's own 502/503 answers, never a crashed process.
 */

import http from 'node:http';
import net from 'node:net';
import type {
  CloudFrontHeaders,
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontRequestResult,
  CloudFrontResponse,
  CloudFrontResponseEvent,
  CloudFrontResponseResult,
} from 'aws-lambda';
import {
  bodyOf,
  classifyViewerRequestResult,
  LOCAL_DISTRIBUTION,
  newRequestId,
  responseHeaders,
  toNodeHeaders,
  viewerRequestEvent,
  viewerResponseEvent,
} from './cloudfront';
import { clientIpOf, closeServer, listen, readBody, withTimeout } from './http-util';
import type { EdgeCounters } from './status';

/** Lambda@Edge's viewer-request limit: CloudFront answers 503 after it. */
export const VIEWER_REQUEST_TIMEOUT_MS = 5_000;

/** Largest request body the local edge accepts (CloudFront's own limit is far above a demo's needs). */
export const MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024;

/** The Lambda@Edge functions of one region, as loaded from their bundles. */
export interface EdgeFunctions {
  /** The viewer-request handler. */
  viewerRequest(event: CloudFrontRequestEvent): Promise<CloudFrontRequestResult>;
  /** The viewer-response handler, when the project has one. */
  viewerResponse?(event: CloudFrontResponseEvent): Promise<CloudFrontResponseResult>;
}

/** What happened to one request, for counters and tests. */
export type EdgeOutcome =
  | {
      readonly kind: 'forwarded';
      readonly request: CloudFrontRequest;
      readonly originStatus: number;
    }
  | { readonly kind: 'generated'; readonly status: number }
  | { readonly kind: 'error'; readonly status: number; readonly reason: string };

/** Options of {@link startEdgeServer}. */
export interface EdgeServerOptions {
  readonly region: string;
  readonly port: number;
  readonly functions: EdgeFunctions;
  /** Origin base URL (`http://host:port`, optionally with a path prefix). */
  readonly originUrl: string;
  /** Counters this edge updates. */
  readonly counters: EdgeCounters;
  /** Called after each request, e.g. to count fallbacks from the forwarded request. */
  readonly onOutcome?: (outcome: EdgeOutcome) => void;
  /** Reports unexpected failures (handler exceptions, origin errors). */
  readonly log?: (line: string) => void;
  /**
   * Tests only: a request header (lower case) whose value, a valid IP
   * address, is taken as the viewer's address instead of the connection's,
   * so one test can play viewers from several addresses. CloudFront has no
   * such thing: its `clientIp` is the connection's. @default none
   */
  readonly viewerIpHeader?: string;
}

/** A running edge. */
export interface EdgeServer {
  readonly url: string;
  stop(): Promise<void>;
}

const originAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** The viewer's address: the connection's, or the test header's when set and valid. */
function viewerIpOf(options: EdgeServerOptions, req: http.IncomingMessage): string {
  if (options.viewerIpHeader === undefined) return clientIpOf(req);
  const value = req.headers[options.viewerIpHeader];
  return typeof value === 'string' && net.isIP(value) !== 0 ? value : clientIpOf(req);
}

/** Starts a region's edge on loopback. */
export async function startEdgeServer(options: EdgeServerOptions): Promise<EdgeServer> {
  const server = http.createServer((req, res) => {
    handle(options, req, res).catch((error: unknown) => {
      options.log?.(`edge ${options.region}: ${String(error)}`);
      if (!res.headersSent) sendCloudFrontError(res, 502, 'The request could not be satisfied.');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  const port = await listen(server, options.port, `edge ${options.region}`);
  return { url: `http://127.0.0.1:${port}`, stop: () => closeServer(server) };
}

async function handle(
  options: EdgeServerOptions,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const body = await readBody(req);
  const { counters } = options;
  const requestId = newRequestId();
  const finish = (outcome: EdgeOutcome) => {
    if (outcome.kind === 'forwarded') counters.allowed++;
    else if (outcome.kind === 'error') counters.errors++;
    else if (outcome.status === 429) counters.refused++;
    else counters.generated++;
    options.onOutcome?.(outcome);
  };
  if (body.length > MAX_REQUEST_BODY_BYTES) {
    sendCloudFrontError(res, 413, 'Request body too large.', requestId, options.region);
    return finish({ kind: 'error', status: 413, reason: 'body too large' });
  }
  const event = viewerRequestEvent(req, viewerIpOf(options, req), requestId);
  const original = event.Records[0]?.cf.request as CloudFrontRequest;
  const originalCopy = structuredClone(original);

  let result: CloudFrontRequestResult;
  try {
    result = await withTimeout(
      invoke(() => options.functions.viewerRequest(event)),
      VIEWER_REQUEST_TIMEOUT_MS,
    );
  } catch (error) {
    options.log?.(`edge ${options.region}: viewer-request handler failed: ${String(error)}`);
    sendCloudFrontError(
      res,
      503,
      "The Lambda function associated with the CloudFront distribution is invalid or doesn't have the required permissions.",
      requestId,
      options.region,
    );
    return finish({ kind: 'error', status: 503, reason: String(error) });
  }
  const outcome = classifyViewerRequestResult(result, originalCopy);
  if (outcome.kind === 'invalid') {
    options.log?.(`edge ${options.region}: invalid viewer-request result: ${outcome.reason}`);
    sendCloudFrontError(
      res,
      502,
      'The Lambda function returned an invalid response.',
      requestId,
      options.region,
    );
    return finish({ kind: 'error', status: 502, reason: outcome.reason });
  }
  if (outcome.kind === 'respond') {
    const status = Number(outcome.response.status);
    const payload = bodyOf(outcome.response) ?? Buffer.alloc(0);
    const headers = viewerHeaders(
      outcome.response.headers,
      cloudFrontHeaders(requestId, options.region, 'LambdaGeneratedResponse from cloudfront'),
      payload.length,
    );
    res.writeHead(status, outcome.response.statusDescription ?? http.STATUS_CODES[status], headers);
    res.end(payload);
    return finish({ kind: 'generated', status });
  }

  const forwarded = outcome.request;
  let answer: OriginAnswer;
  try {
    answer = await callOrigin(options.originUrl, forwarded, body, requestId, original.clientIp);
  } catch (error) {
    options.log?.(`edge ${options.region}: origin unreachable: ${String(error)}`);
    sendCloudFrontError(
      res,
      502,
      "CloudFront wasn't able to connect to the origin.",
      requestId,
      options.region,
    );
    return finish({ kind: 'error', status: 502, reason: `origin: ${String(error)}` });
  }
  let response: CloudFrontResponse = {
    status: String(answer.status),
    statusDescription: answer.statusMessage,
    headers: answer.headers,
  };
  if (options.functions.viewerResponse !== undefined && answer.status < 400) {
    const responseEvent = viewerResponseEvent(forwarded, response, requestId);
    try {
      const viewerResponse = options.functions.viewerResponse;
      const changed = await withTimeout(
        invoke(() => viewerResponse(responseEvent)),
        VIEWER_REQUEST_TIMEOUT_MS,
      );
      if (changed !== undefined && changed !== null) response = changed as CloudFrontResponse;
    } catch (error) {
      options.log?.(`edge ${options.region}: viewer-response handler failed: ${String(error)}`);
      sendCloudFrontError(
        res,
        503,
        'The Lambda function associated with the CloudFront distribution failed.',
        requestId,
        options.region,
      );
      return finish({ kind: 'error', status: 503, reason: String(error) });
    }
  }
  const status = Number(response.status);
  const headers = viewerHeaders(
    response.headers,
    cloudFrontHeaders(requestId, options.region, 'Miss from cloudfront'),
    answer.body.length,
  );
  res.writeHead(status, response.statusDescription || http.STATUS_CODES[status], headers);
  res.end(answer.body);
  finish({ kind: 'forwarded', request: forwarded, originStatus: answer.status });
}

/** Calls a handler; a synchronous throw becomes a rejection, as Lambda reports it. */
function invoke<T>(fn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve) => resolve(fn()));
}

interface OriginAnswer {
  readonly status: number;
  readonly statusMessage: string;
  readonly headers: CloudFrontHeaders;
  readonly body: Buffer;
}

function callOrigin(
  originUrl: string,
  request: CloudFrontRequest,
  body: Buffer,
  requestId: string,
  clientIp: string,
): Promise<OriginAnswer> {
  const base = new URL(originUrl);
  const prefix = base.pathname.replace(/\/$/, '');
  const path = `${prefix}${request.uri}${request.querystring ? `?${request.querystring}` : ''}`;
  const headers: Record<string, string[]> = {};
  for (const [name, list] of Object.entries(request.headers)) {
    if (name === 'host' || name === 'content-length') continue;
    headers[name] = list.map((h) => h.value);
  }
  const forwardedFor = request.headers['x-forwarded-for']?.map((h) => h.value).join(', ');
  headers['x-forwarded-for'] = [forwardedFor ? `${forwardedFor}, ${clientIp}` : clientIp];
  headers.via = [`1.1 ${LOCAL_DISTRIBUTION.distributionDomainName} (CloudFront)`];
  headers['x-amz-cf-id'] = [requestId];
  headers['content-length'] = [String(body.length)];
  return new Promise((resolve, reject) => {
    const upstream = http.request(
      {
        host: base.hostname,
        port: base.port || 80,
        method: request.method,
        path,
        headers,
        agent: originAgent,
        timeout: 30_000,
      },
      (res) => {
        readBody(res).then(
          (payload) =>
            resolve({
              status: res.statusCode ?? 502,
              statusMessage: res.statusMessage ?? '',
              headers: responseHeaders(res.rawHeaders),
              body: payload,
            }),
          reject,
        );
      },
    );
    upstream.on('timeout', () => upstream.destroy(new Error('origin read timeout')));
    upstream.on('error', reject);
    upstream.end(body);
  });
}

/** Framing headers the edge recomputes for the viewer (the body is sent whole). */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive']);

function viewerHeaders(
  headers: CloudFrontHeaders | undefined,
  added: Record<string, string>,
  bodyBytes: number,
): Record<string, string | string[]> {
  const kept: CloudFrontHeaders = {};
  for (const [name, list] of Object.entries(headers ?? {})) {
    if (!FRAMING.has(name) && !(name in lowerKeys(added))) kept[name] = list;
  }
  return { ...toNodeHeaders(kept), ...added, 'Content-Length': String(bodyBytes) };
}

function lowerKeys(record: Record<string, string>): Record<string, true> {
  return Object.fromEntries(Object.keys(record).map((k) => [k.toLowerCase(), true]));
}

function cloudFrontHeaders(
  requestId: string,
  region: string,
  cache: string,
): Record<string, string> {
  return {
    'X-Cache': cache,
    Via: `1.1 ${LOCAL_DISTRIBUTION.distributionDomainName} (CloudFront)`,
    'X-Amz-Cf-Pop': `LOCAL-${region}`,
    'X-Amz-Cf-Id': requestId,
  };
}

function sendCloudFrontError(
  res: http.ServerResponse,
  status: number,
  message: string,
  requestId = newRequestId(),
  region = 'local',
): void {
  const body = `<!DOCTYPE HTML><HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD><BODY><H1>${status} ERROR</H1><H2>The request could not be satisfied.</H2>${message}\n</BODY></HTML>\n`;
  res.writeHead(status, {
    'content-type': 'text/html',
    'content-length': String(Buffer.byteLength(body)),
    ...cloudFrontHeaders(requestId, region, 'Error from cloudfront'),
  });
  res.end(body);
}
