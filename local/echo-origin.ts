/**
 * The built-in origin of `npm start`: it answers every request with a short
 * JSON echo, so that a curl through an edge shows what reached the origin,
 * above all the `x-ratelimit-*` headers the edge handler adds for it. It also
 * counts requests, which the end-to-end tests use to prove a refused request
 * never reached the origin.
 */

import http from 'node:http';
import { closeServer, listen, readBody } from './http-util';

/** What the echo origin answers. */
export interface EchoBody {
  readonly origin: 'echo';
  readonly method: string;
  readonly path: string;
  /** The `x-ratelimit-*` headers the origin received. */
  readonly rateLimitHeaders: Readonly<Record<string, string>>;
  /** CloudFront's request id (`x-amz-cf-id`), when the request came through an edge. */
  readonly cfId?: string;
  readonly bodyBytes: number;
}

/** A running echo origin. */
export interface EchoOrigin {
  readonly url: string;
  /** Requests answered since start. */
  requests(): number;
  stop(): Promise<void>;
}

/** Starts the echo origin on loopback (`port` 0 picks a free port). */
export async function startEchoOrigin(port: number): Promise<EchoOrigin> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    readBody(req)
      .then((body) => {
        requests++;
        const rateLimitHeaders: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers)) {
          if (name.startsWith('x-ratelimit-')) rateLimitHeaders[name] = String(value);
        }
        const cfId = req.headers['x-amz-cf-id'];
        const echo: EchoBody = {
          origin: 'echo',
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          rateLimitHeaders,
          ...(typeof cfId === 'string' ? { cfId } : {}),
          bodyBytes: body.length,
        };
        const text = `${JSON.stringify(echo)}\n`;
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(text)),
          'cache-control': 'no-store',
        });
        res.end(text);
      })
      .catch(() => res.destroy());
  });
  const bound = await listen(server, port, 'echo origin');
  return {
    url: `http://127.0.0.1:${bound}`,
    requests: () => requests,
    stop: () => closeServer(server),
  };
}
