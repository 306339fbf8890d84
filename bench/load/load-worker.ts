/**
 * The load generator's child process: runs autocannon tests one at a time as
 * the parent sends their specs, and sends each summary back over IPC. Why a
 * child process: on a 2-core machine the load generator must not share an
 * event loop with the servers it measures, or every result would mostly
 * measure autocannon itself. It exits when the parent disconnects.
 *
 * Every run is bounded twice: by count (`maxRequests`) and by time
 * (`durationSeconds`, plus a hard stop a few seconds later).
 */

import { createRequire } from 'node:module';
import type { LoadSpec, LoadSummary } from './load';

const require = createRequire(import.meta.url);

interface Histogram {
  readonly average: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly total: number;
}

interface AutocannonResult {
  readonly requests: Histogram;
  readonly latency: Histogram;
  readonly throughput: Histogram;
  readonly duration: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly statusCodeStats: Record<string, { count: number }>;
}

interface RawRequest {
  headers?: Record<string, string>;
  [field: string]: unknown;
}

interface AutocannonInstance {
  stop(): void;
}

type Autocannon = (
  options: Record<string, unknown>,
  done: (error: unknown, result: AutocannonResult) => void,
) => AutocannonInstance;

const autocannon = require('autocannon') as Autocannon;

/** Grace after the test's duration before it is stopped by force (ms). */
const HARD_STOP_GRACE_MS = 5_000;

function run(spec: LoadSpec): Promise<LoadSummary> {
  let sent = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        pipelining: 1,
        duration: spec.durationSeconds,
        maxOverallRequests: spec.maxRequests,
        ...(spec.overallRate === undefined ? {} : { overallRate: spec.overallRate }),
        timeout: 10,
        requests: [
          {
            method: 'GET',
            path: spec.path,
            setupRequest: (request: RawRequest) => {
              const key = `${spec.keyPrefix}${sent++ % spec.keyCount}`;
              return { ...request, headers: { ...request.headers, [spec.keyHeader]: key } };
            },
          },
        ],
      },
      (error, result) => {
        clearTimeout(hardStop);
        if (error) return reject(error);
        const statusCounts: Record<string, number> = {};
        for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) {
          statusCounts[code] = stat.count;
        }
        resolve({
          requests: result.requests.total,
          durationSeconds: result.duration,
          requestsPerSecond: result.duration > 0 ? result.requests.total / result.duration : 0,
          latencyMs: {
            p50: result.latency.p50,
            p90: result.latency.p90,
            p99: result.latency.p99,
            max: result.latency.max,
            mean: result.latency.mean,
          },
          statusCounts,
          bytesPerResponse:
            result.requests.total > 0 ? result.throughput.total / result.requests.total : 0,
          errors: result.errors,
          timeouts: result.timeouts,
        });
      },
    );
    const hardStop = setTimeout(
      () => instance.stop(),
      spec.durationSeconds * 1000 + HARD_STOP_GRACE_MS,
    );
  });
}

process.on('message', (message: unknown) => {
  run(message as LoadSpec).then(
    (summary) => process.send?.({ ok: true, summary }),
    (error: unknown) => process.send?.({ ok: false, error: String(error) }),
  );
});
process.on('disconnect', () => process.exit(0));
