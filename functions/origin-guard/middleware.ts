/**
 * The guard as middleware for Node HTTP servers (plain `node:http`, Express,
 * Connect: the `(req, res, next)` shape). A refused request gets a JSON 403
 * (503 when no secret value could be loaded) and never reaches the
 * application; an accepted one goes on without the secret header, so the
 * application cannot log it.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GuardVerdict, OriginGuard } from './guard';

/** The `(req, res, next)` middleware shape. */
export type Middleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/** Options of {@link originGuardMiddleware}. */
export interface OriginGuardMiddlewareOptions {
  /** Called for each refused request (e.g. to count them). @default ignore */
  readonly onRefused?: (
    verdict: Extract<GuardVerdict, { allowed: false }>,
    req: IncomingMessage,
  ) => void;
}

/** Middleware that lets only requests carrying the secret origin header through. */
export function originGuardMiddleware(
  guard: OriginGuard,
  options: OriginGuardMiddlewareOptions = {},
): Middleware {
  return (req, res, next) => {
    guard.check(req.headers[guard.headerName]).then(
      (verdict) => {
        if (verdict.allowed) {
          delete req.headers[guard.headerName];
          next();
          return;
        }
        options.onRefused?.(verdict, req);
        const body = JSON.stringify({
          error: verdict.status === 503 ? 'unavailable' : 'forbidden',
          message:
            verdict.status === 503
              ? 'the origin cannot verify requests right now'
              : 'requests must come through the CloudFront distribution',
        });
        res.writeHead(verdict.status, {
          'content-type': 'application/json',
          'cache-control': 'no-store',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      },
      (error: unknown) => next(error),
    );
  };
}
