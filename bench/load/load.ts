/**
 * Runs HTTP load tests from a child process (load-worker.ts), one at a time,
 * and returns their summaries. One child serves every run of a benchmark so
 * that its start-up cost is paid once. The parent enforces a deadline per run
 * too: a child that does not answer in time is killed, so no load loop
 * outlives its budget.
 */

import { type ChildProcess, fork } from 'node:child_process';
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
  /** Offered load over all connections (req/s); closed loop (as fast as answered) when absent. */
  readonly overallRate?: number;
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
  /** Mean bytes received per response (status line, headers and body). */
  readonly bytesPerResponse: number;
  readonly errors: number;
  readonly timeouts: number;
}

/**
 * Combines consecutive runs of one decider (segments of an interleaved
 * measurement) into one summary: counts and durations add up, throughput is
 * total responses over total time, and each latency percentile is the
 * response-weighted mean of the segments' (an approximation: percentiles of
 * separate runs do not combine exactly), the maximum being the largest.
 *
 * @throws RangeError on an empty list.
 */
export function combineLoads(segments: readonly LoadSummary[]): LoadSummary {
  if (segments.length === 0) throw new RangeError('no load segments to combine');
  let requests = 0;
  let durationSeconds = 0;
  let bytes = 0;
  let errors = 0;
  let timeouts = 0;
  const statusCounts: Record<string, number> = {};
  const weighted = { p50: 0, p90: 0, p99: 0, mean: 0 };
  let max = 0;
  for (const s of segments) {
    requests += s.requests;
    durationSeconds += s.durationSeconds;
    bytes += s.bytesPerResponse * s.requests;
    errors += s.errors;
    timeouts += s.timeouts;
    for (const [code, count] of Object.entries(s.statusCounts)) {
      statusCounts[code] = (statusCounts[code] ?? 0) + count;
    }
    for (const k of ['p50', 'p90', 'p99', 'mean'] as const)
      weighted[k] += s.latencyMs[k] * s.requests;
    max = Math.max(max, s.latencyMs.max);
  }
  const per = (x: number) => (requests > 0 ? x / requests : 0);
  return {
    requests,
    durationSeconds,
    requestsPerSecond: durationSeconds > 0 ? requests / durationSeconds : 0,
    latencyMs: {
      p50: per(weighted.p50),
      p90: per(weighted.p90),
      p99: per(weighted.p99),
      max,
      mean: per(weighted.mean),
    },
    statusCounts,
    bytesPerResponse: per(bytes),
    errors,
    timeouts,
  };
}

/** Extra time the parent gives a run beyond its duration (ms). */
const DEADLINE_GRACE_MS = 15_000;

/** A load generator in a child process. Create with {@link LoadGenerator.start}; stop it when done. */
export class LoadGenerator {
  private constructor(private readonly child: ChildProcess) {}

  /** Forks the load generator's process. */
  static start(): LoadGenerator {
    const worker = fileURLToPath(new URL('./load-worker.ts', import.meta.url));
    return new LoadGenerator(fork(worker, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' }));
  }

  /**
   * Runs one load test.
   *
   * @throws Error when the URL is not loopback, the run fails, or it misses its deadline
   *   (the child is then killed and this generator cannot be used again).
   */
  run(spec: LoadSpec): Promise<LoadSummary> {
    const target = new URL(spec.url);
    if (target.hostname !== '127.0.0.1') {
      return Promise.reject(new Error(`load tests only target 127.0.0.1 (got ${target.hostname})`));
    }
    const child = this.child;
    if (!child.connected) return Promise.reject(new Error('the load generator has stopped'));
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(deadline);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onMessage = (message: unknown) => {
        cleanup();
        const m = message as { ok: boolean; summary?: LoadSummary; error?: string };
        if (m.ok && m.summary !== undefined) resolve(m.summary);
        else reject(new Error(`load test failed: ${m.error ?? 'no summary'}`));
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`load generator exited with code ${code} during a run`));
      };
      const deadline = setTimeout(
        () => {
          cleanup();
          child.kill('SIGKILL');
          reject(new Error(`load test on ${spec.url} missed its deadline`));
        },
        spec.durationSeconds * 1000 + DEADLINE_GRACE_MS,
      );
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(spec);
    });
  }

  /** Ends the child process (it exits on disconnect; killed if it does not). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      if (child.connected) child.disconnect();
      else child.kill('SIGTERM');
    });
  }
}
