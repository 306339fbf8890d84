/**
 * One region's regional API, locally: a Lambda function URL in front of the
 * bundled API handler. Requests become payload-format-2.0 events and results
 * become answers with the function URL rules, so services can be pointed at
 * the local URL exactly as at the deployed one (minus IAM signing).
 */

import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { functionUrlAnswer, functionUrlEvent } from './function-url';
import { clientIpOf, closeServer, listen, readBody, sendJson, withTimeout } from './http-util';

/** A regional API handler as loaded from its bundle. */
export type ApiHandler = (event: APIGatewayProxyEventV2) => Promise<unknown>;

/** The regional function's timeout in the local runtime (Lambda answers 502 after it). */
export const API_TIMEOUT_MS = 10_000;

/** Options of {@link startApiServer}. */
export interface ApiServerOptions {
  readonly region: string;
  readonly port: number;
  readonly handler: ApiHandler;
  readonly log?: (line: string) => void;
}

/** A running regional API. */
export interface ApiServer {
  readonly url: string;
  stop(): Promise<void>;
}

/** Starts a region's API on loopback. */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const server = http.createServer((req, res) => {
    handle(options, req, res).catch((error: unknown) => {
      options.log?.(`api ${options.region}: ${String(error)}`);
      if (!res.headersSent) sendJson(res, 502, { Message: 'Internal Server Error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  const port = await listen(server, options.port, `API ${options.region}`);
  return { url: `http://127.0.0.1:${port}`, stop: () => closeServer(server) };
}

async function handle(
  options: ApiServerOptions,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const body = await readBody(req);
  const requestId = randomUUID();
  const event = functionUrlEvent(req, body, clientIpOf(req), options.region, requestId, Date.now());
  let result: unknown;
  try {
    // A synchronous throw becomes a rejection, as Lambda reports it.
    const running = new Promise<unknown>((resolve) => resolve(options.handler(event)));
    result = await withTimeout(running, API_TIMEOUT_MS);
  } catch (error) {
    // A function URL answers an invocation error with a bare 502.
    options.log?.(`api ${options.region}: handler failed: ${String(error)}`);
    sendJson(res, 502, { Message: 'Internal Server Error' });
    return;
  }
  const answer = functionUrlAnswer(result);
  res.writeHead(answer.status, {
    ...answer.headers,
    'x-amzn-requestid': requestId,
    'content-length': String(answer.body.length),
  });
  res.end(answer.body);
}
