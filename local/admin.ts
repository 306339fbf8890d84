/**
 * The admin endpoint of the local runtime (loopback only): the knobs a demo
 * or a test turns while traffic flows (cut and heal links between regions,
 * take a region's store down, change the lag, run the reconcilers now) and
 * the status as JSON. Each control answers with the new state, so a script
 * can act and check in one call. Requests from web pages (another origin, or
 * a foreign Host) are refused with 403 ({@link foreignRequest}).
 */

import http from 'node:http';
import type { DownMode } from './emulator';
import { closeServer, listen, sendJson } from './http-util';
import type { StatusSnapshot } from './status';

/** What the admin endpoint controls. */
export interface AdminControls {
  readonly regions: readonly string[];
  cut(a: string, b: string): void;
  heal(a: string, b: string): void;
  setDown(region: string, down: boolean, mode: DownMode): void;
  setLag(lagMs: number): void;
  /** Runs one reconciler pass in every region and resolves when all finished. */
  reconcileNow(): Promise<void>;
  status(): Promise<StatusSnapshot>;
}

/** A running admin endpoint. */
export interface AdminServer {
  readonly url: string;
  stop(): Promise<void>;
}

/** A bad admin call (unknown region, missing parameter); answered with 400. */
export class AdminRequestError extends Error {
  override readonly name = 'AdminRequestError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Routes, for the 404 answer. */
const ROUTES = [
  'POST /admin/cut?a=REGION&b=REGION',
  'POST /admin/heal?a=REGION&b=REGION',
  'POST /admin/down?region=REGION&down=true|false[&mode=error|hang]',
  'POST /admin/lag?ms=N',
  'POST /admin/reconcile',
  'GET /admin/status',
];

/** Starts the admin endpoint on loopback. */
export async function startAdminServer(
  port: number,
  controls: AdminControls,
): Promise<AdminServer> {
  let boundPort = 0;
  const server = http.createServer((req, res) => {
    const refused = foreignRequest(req, boundPort);
    if (refused !== undefined) {
      req.resume();
      sendJson(res, 403, { error: refused });
      return;
    }
    route(controls, req)
      .then(([status, body]) => sendJson(res, status, body))
      .catch((error: unknown) => {
        if (error instanceof AdminRequestError) sendJson(res, 400, { error: error.message });
        else sendJson(res, 500, { error: String(error) });
      });
    req.resume();
  });
  const bound = await listen(server, port, 'admin');
  boundPort = bound;
  return { url: `http://127.0.0.1:${bound}`, stop: () => closeServer(server) };
}

/** Host names the admin endpoint answers to: loopback only. */
const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * Why a request must be refused, if it must: the endpoint listens on
 * loopback, but a page in the user's browser can reach loopback too. A
 * cross-origin request carries the page's `Origin` (or `Sec-Fetch-Site:
 * cross-site`); a DNS-rebinding page sends its own name as `Host`. curl and
 * scripts send neither, and pass.
 */
export function foreignRequest(req: http.IncomingMessage, port: number): string | undefined {
  const allowed = LOOPBACK_HOSTS.map((h) => `${h}:${port}`);
  const host = (req.headers.host ?? '').toLowerCase();
  if (!allowed.includes(host)) {
    return `refused: Host "${req.headers.host ?? ''}" is not this loopback endpoint (use ${allowed[0]})`;
  }
  const origin = req.headers.origin;
  if (origin !== undefined && !allowed.some((a) => origin.toLowerCase() === `http://${a}`)) {
    return `refused: cross-origin request from ${origin}; the admin endpoint takes no requests from web pages`;
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return `refused: cross-site request (Sec-Fetch-Site: ${String(site)}); the admin endpoint takes no requests from web pages`;
  }
  return undefined;
}

async function route(
  controls: AdminControls,
  req: http.IncomingMessage,
): Promise<[number, unknown]> {
  const url = new URL(req.url ?? '/', 'http://admin.local');
  const method = req.method ?? 'GET';
  const region = (name: string): string => {
    const value = url.searchParams.get(name);
    if (value === null || value === '') throw new AdminRequestError(`missing parameter "${name}"`);
    if (!controls.regions.includes(value)) {
      throw new AdminRequestError(
        `unknown region "${value}" (running: ${controls.regions.join(', ')})`,
      );
    }
    return value;
  };
  const pair = (): [string, string] => {
    const a = region('a');
    const b = region('b');
    if (a === b) throw new AdminRequestError('a and b must be two different regions');
    return [a, b];
  };
  const key = `${method} ${url.pathname}`;
  switch (key) {
    case 'GET /admin/status':
      return [200, await controls.status()];
    case 'POST /admin/cut': {
      const [a, b] = pair();
      controls.cut(a, b);
      return [200, { cut: [a, b], links: (await controls.status()).links }];
    }
    case 'POST /admin/heal': {
      const [a, b] = pair();
      controls.heal(a, b);
      return [200, { healed: [a, b], links: (await controls.status()).links }];
    }
    case 'POST /admin/down': {
      const r = region('region');
      const down = url.searchParams.get('down') ?? 'true';
      if (down !== 'true' && down !== 'false') {
        throw new AdminRequestError(`down must be true or false (got "${down}")`);
      }
      const mode = url.searchParams.get('mode') ?? 'error';
      if (mode !== 'error' && mode !== 'hang') {
        throw new AdminRequestError(`mode must be error or hang (got "${mode}")`);
      }
      controls.setDown(r, down === 'true', mode);
      return [200, { region: r, down: down === 'true' ? mode : null }];
    }
    case 'POST /admin/lag': {
      const ms = url.searchParams.get('ms') ?? '';
      if (!/^\d+$/.test(ms)) throw new AdminRequestError(`ms must be an integer (got "${ms}")`);
      controls.setLag(Number(ms));
      return [200, { lagMs: Number(ms) }];
    }
    case 'POST /admin/reconcile':
      await controls.reconcileNow();
      return [200, await controls.status()];
    default: {
      const known = ROUTES.some((r) => r.split('?')[0]?.split(' ')[1] === url.pathname);
      return known
        ? [405, { error: `${method} not allowed on ${url.pathname}`, routes: ROUTES }]
        : [404, { error: `no route ${method} ${url.pathname}`, routes: ROUTES }];
    }
  }
}
