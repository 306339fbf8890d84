/**
 * Runs an HTTP load test in a child process (load-worker.ts) and returns its
 * summary. The parent enforces a deadline too: a child that does not answer in
 * time is killed, so no load loop outlives its budget.
 */

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** What to load and how hard. Loopback URLs only. */
export interface LoadSpec {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Request path. */
  readonly path: string;
  /** Concurrent connections. */
  readonly connections: number;
  /** Stop after this long (s). */
  readonly durationSeconds: number;
  /** Stop after this many requests. */
  readonly maxRequests: number;
  /** Header carrying the rate-limit key. */
  readonly keyHeader: string;
  /** Keys are `<keyPrefix><i>`, i cycling over `keyCount`. */
  readonly keyPrefix: string;
  readonly keyCount: number;
}

/** What a load test measured. */
export interface LoadSummary {
  /** Responses received. */
  readonly requests: number;
  readonly durationSeconds: number;
  readonly requestsPerSecond: number;
  /** Response latency percentiles (ms), as autocannon reports them. */
  readonly latencyMs: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly max: number;
    readonly mean: number;
  };
  /** Responses per HTTP status. */
  readonly statusCounts: Readonly<Record<string, number>>;
  readonly errors: number;
  readonly timeouts: number;
}

/** Extra time the parent gives the child beyond the test's duration (ms). */
const DEADLINE_GRACE_MS = 15_000;

/**
 * Runs one load test in a child process.
 *
 * @throws Error when the URL is not loopback, the child fails, or it misses its deadline.
 */
export function runLoad(spec: LoadSpec): Promise<LoadSummary> {
  const target = new URL(spec.url);
  if (target.hostname !== '127.0.0.1') {
    return Promise.reject(new Error(`load tests only target 127.0.0.1 (got ${target.hostname})`));
  }
  const worker = fileURLToPath(new URL('./load-worker.ts', import.meta.url));
  const child = fork(worker, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(
      () => {
        child.kill('SIGKILL');
        reject(new Error(`load test on ${spec.url} missed its deadline`));
      },
      spec.durationSeconds * 1000 + DEADLINE_GRACE_MS,
    );
    child.once('message', (message: unknown) => {
      clearTimeout(deadline);
      const m = message as { ok: boolean; summary?: LoadSummary; error?: string };
      if (m.ok && m.summary !== undefined) resolve(m.summary);
      else reject(new Error(`load test failed: ${m.error ?? 'no summary'}`));
    });
    child.once('exit', (code) => {
      clearTimeout(deadline);
      reject(new Error(`load generator exited with code ${code} before answering`));
    });
    child.once('error', (error) => {
      clearTimeout(deadline);
      reject(error);
    });
    child.send(spec);
  });
}
