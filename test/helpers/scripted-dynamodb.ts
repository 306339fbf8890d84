/**
 * A scripted stand-in for DynamoDB's HTTP endpoint, for the transport tests:
 * every request is recorded (headers and body as they arrived) and answered
 * as the test's script says: a status with a body, a connection reset before
 * any answer, an answer cut in the middle, or no answer at all. Both
 * transports (the SDK client and the light one) can be pointed at it, so the
 * same wire-level failure reaches each of them.
 *
 * @example
 * ```ts
 * const server = await startScriptedDynamo(() => ({ status: 400, body: { __type: 'x#ValidationException' } }));
 * // createHttpTransport({ region: 'us-east-1', endpoint: server.endpoint, credentials })
 * await server.stop();
 * ```
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the server does with one request. */
export type ScriptedAnswer =
  | {
      readonly status: number;
      /** An object is sent as JSON; a string as it is. @default '' */
      readonly body?: unknown;
      readonly headers?: Readonly<Record<string, string>>;
    }
  /** Destroys the connection before answering (a reset or closed keep-alive socket). */
  | { readonly reset: true }
  /** Sends the status line and half a body, then destroys the connection. */
  | { readonly cut: true }
  /** Never answers (until `stop`). */
  | { readonly hang: true };

/** One request as it arrived. */
export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** `Op` of `X-Amz-Target: DynamoDB_20120810.Op`. */
  readonly operation: string;
  /** Whether the client closed the connection before an answer was written. */
  closedByClient: boolean;
  /** The client's port: equal for two requests exactly when they came on one connection. */
  readonly remotePort: number | undefined;
}

/** A running scripted server. */
export interface ScriptedDynamo {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Every request so far, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Replaces the script. */
  answerWith(script: (request: RecordedRequest, index: number) => ScriptedAnswer): void;
  /** Closes every connection and the server. */
  stop(): Promise<void>;
}

/** Starts a scripted server on a free loopback port. */
export async function startScriptedDynamo(
  initial: (request: RecordedRequest, index: number) => ScriptedAnswer,
): Promise<ScriptedDynamo> {
  let script = initial;
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        operation: target.split('.')[1] ?? '',
        closedByClient: false,
        remotePort: req.socket.remotePort,
      };
      requests.push(recorded);
      res.on('close', () => {
        if (!res.writableFinished) recorded.closedByClient = true;
      });
      const answer = script(recorded, requests.length - 1);
      if ('reset' in answer) {
        req.socket.destroy();
      } else if ('cut' in answer) {
        res.writeHead(200, {
          'content-type': 'application/x-amz-json-1.0',
          'content-length': '200',
        });
        res.write('{"Attributes":{"pk":');
        // Let the half body leave before the connection goes.
        setImmediate(() => req.socket.destroy());
      } else if ('hang' in answer) {
        // No answer: the client's timeout or signal has to end it.
      } else {
        const text =
          answer.body === undefined
            ? ''
            : typeof answer.body === 'string'
              ? answer.body
              : JSON.stringify(answer.body);
        res.writeHead(answer.status, {
          'content-type': 'application/x-amz-json-1.0',
          'content-length': String(Buffer.byteLength(text)),
          ...answer.headers,
        });
        res.end(text);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    answerWith(next) {
      script = next;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
