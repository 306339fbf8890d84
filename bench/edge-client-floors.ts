/**
 * Two floors for the edge client's CPU figure (bench/edge-client.ts
 * `--floors`): what a decision would cost if its store calls cost only
 * what no DynamoDB client over this HTTP stack can avoid. Diagnostics, not
 * clients: nothing here is deployed or meant to be.
 *
 * - `node-http-unsigned`: the light transport's requests (the same JSON
 *   bodies and headers) over a keep-alive `node:http` agent, with a fixed
 *   `Authorization` instead of a SigV4 signature (dynalite does not check
 *   it): the floor of any client on node:http, since signing and
 *   serialising are the only parts of a call a client adds to it;
 * - `socket-unsigned`: the same bytes written to a kept-alive TCP socket and
 *   the answer framed by its `Content-Length`, with no HTTP library at all:
 *   what leaving node:http could buy at most.
 *
 * Neither has timeouts, retries, TLS or abort handling, and the socket one
 * knows one framing only (a `Content-Length` body): the real transport's
 * work those would add is part of what the floors leave out.
 */

import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import {
  DYNAMODB_CONTENT_TYPE,
  DYNAMODB_TARGET_PREFIX,
  DynamoDbServiceError,
  errorCodeOf,
} from '../functions/store/http-transport';
import type { DynamoDbTransport } from '../functions/store/transport';

/** The floors {@link floorTransport} builds. */
export type FloorName = 'node-http-unsigned' | 'socket-unsigned';
export const FLOOR_NAMES: readonly FloorName[] = ['node-http-unsigned', 'socket-unsigned'];

/** A fixed, well-formed SigV4 `Authorization` (dynalite checks its shape, not its signature). */
const UNSIGNED_AUTHORIZATION =
  'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, ' +
  'SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target, ' +
  `Signature=${'0'.repeat(64)}`;
const UNSIGNED_DATE = '20260101T000000Z';

/** A floor transport and how to close its sockets. */
export interface FloorTransport {
  readonly transport: DynamoDbTransport;
  close(): void;
}

/** The floor `name` against `endpoint` (`http://host:port`). */
export function floorTransport(name: FloorName, endpoint: string): FloorTransport {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:') throw new RangeError(`a floor needs an http endpoint: ${endpoint}`);
  const send = name === 'node-http-unsigned' ? nodeHttpSender(url) : socketSender(url);
  const call = (operation: string) => (request: object) =>
    send.call(`${DYNAMODB_TARGET_PREFIX}${operation}`, JSON.stringify(request)) as Promise<never>;
  return {
    transport: { getItem: call('GetItem'), query: call('Query'), updateItem: call('UpdateItem') },
    close: send.close,
  };
}

interface Sender {
  call(target: string, body: string): Promise<unknown>;
  close(): void;
}

function headerListOf(host: string, target: string, body: string): string[] {
  return [
    'host',
    host,
    'content-type',
    DYNAMODB_CONTENT_TYPE,
    'x-amz-target',
    target,
    'x-amz-date',
    UNSIGNED_DATE,
    'content-length',
    String(Buffer.byteLength(body)),
    'authorization',
    UNSIGNED_AUTHORIZATION,
  ];
}

function nodeHttpSender(url: URL): Sender {
  const agent = new Agent({ keepAlive: true });
  const port = Number(url.port || 80);
  return {
    call: (target, body) =>
      new Promise((resolve, reject) => {
        const req = httpRequest(
          {
            agent,
            host: url.hostname,
            port,
            method: 'POST',
            path: '/',
            headers: headerListOf(url.host, target, body),
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => {
              try {
                resolve(answerOf(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
              } catch (error) {
                reject(error);
              }
            });
          },
        );
        req.on('error', reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}

function socketSender(url: URL): Sender {
  const port = Number(url.port || 80);
  const idle: Socket[] = [];
  const all = new Set<Socket>();
  const socketOf = (): Socket => {
    const reused = idle.pop();
    if (reused !== undefined) return reused;
    const socket = connect(port, url.hostname);
    socket.setNoDelay(true);
    all.add(socket);
    socket.on('close', () => {
      all.delete(socket);
      const at = idle.indexOf(socket);
      if (at >= 0) idle.splice(at, 1);
    });
    return socket;
  };
  return {
    call: (target, body) =>
      new Promise((resolve, reject) => {
        const socket = socketOf();
        let received: Buffer = Buffer.alloc(0);
        const done = () => {
          socket.off('data', onData);
          socket.off('error', onError);
        };
        const onError = (error: Error) => {
          done();
          reject(error);
        };
        const onData = (chunk: Buffer) => {
          received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
          let frame: ResponseFrame | undefined;
          try {
            frame = responseFrameOf(received);
          } catch (error) {
            done();
            socket.destroy();
            reject(error);
            return;
          }
          if (frame === undefined) return;
          done();
          idle.push(socket);
          const text = received.toString(
            'utf8',
            frame.bodyStart,
            frame.bodyStart + frame.bodyLength,
          );
          try {
            resolve(answerOf(frame.status, text));
          } catch (error) {
            reject(error);
          }
        };
        socket.on('data', onData);
        socket.on('error', onError);
        const headers = headerListOf(url.host, target, body);
        let head = 'POST / HTTP/1.1\r\n';
        for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
        socket.write(`${head}\r\n${body}`);
      }),
    close: () => {
      for (const socket of all) socket.destroy();
    },
  };
}

/** Where the status and the body of one complete HTTP/1.1 answer are. */
export interface ResponseFrame {
  readonly status: number;
  readonly bodyStart: number;
  readonly bodyLength: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * The frame of the answer at the start of `bytes`, or undefined while it is
 * incomplete.
 *
 * @throws Error when the bytes are not an answer this floor can frame (no
 *   status line, no `Content-Length`, or a chunked body)
 */
export function responseFrameOf(bytes: Buffer): ResponseFrame | undefined {
  const headEnd = bytes.indexOf(HEAD_END);
  if (headEnd < 0) return undefined;
  const lines = bytes.toString('latin1', 0, headEnd).split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1];
  if (status === undefined) throw new Error(`not an HTTP/1.x status line: ${lines[0]}`);
  let bodyLength: number | undefined;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'transfer-encoding')
      throw new Error(`a ${value} body: this floor frames Content-Length only`);
    if (name === 'content-length') bodyLength = Number(value);
  }
  if (bodyLength === undefined || !Number.isSafeInteger(bodyLength) || bodyLength < 0) {
    throw new Error('an answer without a usable Content-Length');
  }
  const bodyStart = headEnd + HEAD_END.length;
  return bytes.length - bodyStart >= bodyLength
    ? { status: Number(status), bodyStart, bodyLength }
    : undefined;
}

/** The parsed answer, or the DynamoDB error it carries (so the store maps it as it maps the light transport's). */
function answerOf(status: number, text: string): unknown {
  const parsed = text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (status >= 200 && status < 300) return parsed;
  const type = typeof parsed.__type === 'string' ? errorCodeOf(parsed.__type) : 'Unknown';
  const message = parsed.message ?? parsed.Message;
  throw new DynamoDbServiceError(type, typeof message === 'string' ? message : `HTTP ${status}`, {
    httpStatusCode: status,
  });
}
