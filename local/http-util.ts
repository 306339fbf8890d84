/**
 * Small HTTP helpers shared by the local runtime's servers. They exist so that
 * every server binds loopback the same way, reports a taken port as one
 * clear error, and closes without waiting for idle keep-alive sockets.
 */

import type http from 'node:http';
import net, { type AddressInfo } from 'node:net';

/** The only interface the local runtime binds. */
export const LOOPBACK = '127.0.0.1';

/** A port the runtime wanted is already taken (or not allowed). */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(
    readonly port: number,
    readonly role: string,
    options?: { cause?: unknown },
  ) {
    super(`port ${port} (${role}) is already in use on ${LOOPBACK}`, options);
  }
}

/**
 * Listens on loopback and resolves to the bound port.
 *
 * @param role - what the server is, for the error message (e.g. `edge us-east-1`)
 * @throws {@link PortInUseError} when the port is taken or refused.
 */
export function listen(server: http.Server, port: number, role: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') {
        reject(new PortInUseError(port, role, { cause: error }));
      } else {
        reject(error);
      }
    };
    server.once('error', onError);
    server.listen(port, LOOPBACK, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Checks that every fixed port is free before anything slow starts, so a
 * taken port fails in milliseconds rather than after bundling. Port 0 is
 * skipped. Binding may still race with another process later; {@link listen}
 * reports that the same way.
 *
 * @throws {@link PortInUseError} naming the first taken port and its role.
 */
export async function assertPortsFree(
  ports: readonly { port: number; role: string }[],
): Promise<void> {
  for (const { port, role } of ports) {
    if (port === 0) continue;
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'EADDRINUSE' || error.code === 'EACCES'
            ? new PortInUseError(port, role, { cause: error })
            : error,
        );
      });
      probe.listen(port, LOOPBACK, () => probe.close(() => resolve()));
    });
  }
}

/** Closes a server and drops its open connections (idle keep-alive ones included). */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Reads a whole request or response body. */
export function readBody(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

/** Sends a JSON answer. */
export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value, null, 2)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

/** The viewer's IP as CloudFront reports it: no IPv4-mapped IPv6 prefix. */
export function clientIpOf(req: http.IncomingMessage): string {
  const address = req.socket.remoteAddress ?? LOOPBACK;
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Settles like `promise`, or rejects after `timeoutMs` (the work itself is not cancelled). */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what = 'call'): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
