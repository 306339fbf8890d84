/**
 * A tiny HTTP proxy in front of a DynamoDB endpoint that counts what DynamoDB
 * would bill. Why a proxy rather than the limiter's own counters: it counts
 * every request any client sends (ours, a third-party limiter, retries the SDK
 * makes), so two limiters are compared on the same ruler.
 *
 * It asks the store for `ReturnConsumedCapacity: TOTAL` on every operation that
 * supports it (dynalite computes units from item sizes like DynamoDB: 1 KB per
 * WRU, 4 KB per RRU, half for eventually consistent reads) and passes the
 * answer back unchanged. A write rejected by its condition is counted apart:
 * DynamoDB bills it (1 WRU for a small item) but does not replicate it.
 * Loopback only.
 */

import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Operations whose request accepts `ReturnConsumedCapacity`. */
const CAPACITY_OPS = new Set([
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'Query',
  'Scan',
  'BatchGetItem',
  'BatchWriteItem',
]);

/** Operations that are billed as writes. */
export const WRITE_OPERATIONS: ReadonlySet<string> = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
]);

/** Operations that are billed as reads. */
export const READ_OPERATIONS: ReadonlySet<string> = new Set([
  'GetItem',
  'Query',
  'Scan',
  'BatchGetItem',
]);

/** Counters of one DynamoDB operation. */
export interface OperationCount {
  /** Requests answered 200. */
  calls: number;
  /** Requests rejected with `ConditionalCheckFailedException`. */
  failedConditional: number;
  /** Other error answers. */
  errors: number;
  /** Capacity units reported by the store for the successful calls. */
  units: number;
}

/** Counters per operation name (`GetItem`, `UpdateItem`, ...). */
export type TrafficCounts = Record<string, OperationCount>;

/** Traffic grouped the way DynamoDB bills it. */
export interface BilledTraffic {
  readonly writeCalls: number;
  readonly failedConditionalWrites: number;
  readonly readCalls: number;
  readonly writeUnits: number;
  readonly readUnits: number;
  /** Control-plane and other calls (DescribeTable, CreateTable...), not billed per request. */
  readonly otherCalls: number;
}

/** Sums per-operation counters into billed reads and writes. */
export function billedTraffic(counts: TrafficCounts): BilledTraffic {
  let writeCalls = 0;
  let failedConditionalWrites = 0;
  let readCalls = 0;
  let writeUnits = 0;
  let readUnits = 0;
  let otherCalls = 0;
  for (const [operation, c] of Object.entries(counts)) {
    if (WRITE_OPERATIONS.has(operation)) {
      writeCalls += c.calls;
      failedConditionalWrites += c.failedConditional;
      writeUnits += c.units;
    } else if (READ_OPERATIONS.has(operation)) {
      readCalls += c.calls;
      readUnits += c.units;
    } else {
      otherCalls += c.calls + c.errors;
    }
  }
  return { writeCalls, failedConditionalWrites, readCalls, writeUnits, readUnits, otherCalls };
}

/** The difference `after − before` of two snapshots. */
export function diffCounts(after: TrafficCounts, before: TrafficCounts): TrafficCounts {
  const out: TrafficCounts = {};
  for (const [operation, a] of Object.entries(after)) {
    const b = before[operation] ?? { calls: 0, failedConditional: 0, errors: 0, units: 0 };
    out[operation] = {
      calls: a.calls - b.calls,
      failedConditional: a.failedConditional - b.failedConditional,
      errors: a.errors - b.errors,
      units: a.units - b.units,
    };
  }
  return out;
}

/** Sums the capacity units of a `ConsumedCapacity` answer (object or array). */
export function consumedUnits(answer: unknown): number {
  if (typeof answer !== 'object' || answer === null) return 0;
  const consumed = (answer as { ConsumedCapacity?: unknown }).ConsumedCapacity;
  const list = Array.isArray(consumed) ? consumed : consumed === undefined ? [] : [consumed];
  let units = 0;
  for (const entry of list) {
    const value = (entry as { CapacityUnits?: unknown } | null)?.CapacityUnits;
    if (typeof value === 'number') units += value;
  }
  return units;
}

/** A counting proxy; create with {@link CountingProxy.start}. */
export class CountingProxy {
  readonly #counts: TrafficCounts = {};
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 128 });

  private constructor(
    readonly server: http.Server,
    readonly target: URL,
  ) {}

  /**
   * Starts a proxy on a free loopback port in front of `targetEndpoint`
   * (e.g. `http://127.0.0.1:8000`).
   */
  static async start(targetEndpoint: string): Promise<CountingProxy> {
    const target = new URL(targetEndpoint);
    if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') {
      throw new Error(`the counting proxy only forwards to loopback (got ${target.hostname})`);
    }
    let proxy: CountingProxy | undefined;
    const server = http.createServer((req, res) => {
      proxy?.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ __type: 'BadGateway', message: String(error) }));
      });
    });
    server.keepAliveTimeout = 5_000;
    proxy = new CountingProxy(server, target);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  /** The endpoint clients should use. */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A copy of the counters so far. */
  snapshot(): TrafficCounts {
    return structuredClone(this.#counts);
  }

  /** Stops listening and drops open connections. */
  async stop(): Promise<void> {
    this.#agent.destroy();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private count(operation: string): OperationCount {
    let entry = this.#counts[operation];
    if (entry === undefined) {
      entry = { calls: 0, failedConditional: 0, errors: 0, units: 0 };
      this.#counts[operation] = entry;
    }
    return entry;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? 'unknown';
    let body = await readAll(req);
    if (CAPACITY_OPS.has(operation)) body = withCapacityRequested(body);
    const headers = { ...req.headers, 'content-length': String(body.length) };
    const answer = await new Promise<{
      status: number;
      headers: http.IncomingHttpHeaders;
      body: Buffer;
    }>((resolve, reject) => {
      const upstream = http.request(
        {
          host: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers,
          agent: this.#agent,
        },
        (up) => {
          readAll(up).then(
            (b) => resolve({ status: up.statusCode ?? 502, headers: up.headers, body: b }),
            reject,
          );
        },
      );
      upstream.on('error', reject);
      upstream.end(body);
    });
    const entry = this.count(operation);
    if (answer.status === 200) {
      entry.calls++;
      entry.units += consumedUnits(parseJson(answer.body));
    } else if (answer.body.includes('ConditionalCheckFailedException')) {
      entry.failedConditional++;
    } else {
      entry.errors++;
    }
    const outHeaders = { ...answer.headers };
    delete outHeaders['transfer-encoding'];
    delete outHeaders.connection;
    outHeaders['content-length'] = String(answer.body.length);
    res.writeHead(answer.status, outHeaders);
    res.end(answer.body);
  }
}

/** Adds `ReturnConsumedCapacity: TOTAL` to a JSON request unless it asks for more already. */
export function withCapacityRequested(body: Buffer): Buffer {
  const request = parseJson(body);
  if (typeof request !== 'object' || request === null) return body;
  const asked = (request as { ReturnConsumedCapacity?: unknown }).ReturnConsumedCapacity;
  if (asked === 'TOTAL' || asked === 'INDEXES') return body;
  return Buffer.from(JSON.stringify({ ...request, ReturnConsumedCapacity: 'TOTAL' }), 'utf8');
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}
