/**
 * `GET /health`: is this region's replica reachable within the decision
 * budget, and what replication lag did the reconciler last measure?
 *
 * Reachability is one GetItem of a key that never exists (half a read unit),
 * under the same budget as a decision, so /health fails exactly when
 * decisions would fall back. The lag comes from the reconciler's status item
 * of this region, written once a minute by this region's reconciler and read
 * through the replication port (functions/store/replication-store.ts).
 */
import type { ReplicationStore } from '../store/replication-store';
import type { BucketStore } from '../store/types';
import { StoreError } from '../store/types';

/** What /health reads of the replication port: the reconciler's status of a region. */
export type ReplicationStatusReader = Pick<ReplicationStore, 'readStatus'>;

/** The /health answer. */
export interface HealthReport {
  /** `ok` when the store answered within the budget, else `degraded`. */
  readonly status: 'ok' | 'degraded';
  readonly region: string;
  readonly store: {
    readonly reachable: boolean;
    readonly latencyMs: number;
    /** The failure kind when unreachable (timeout, throttled, unavailable, invalid). */
    readonly error?: string;
  };
  /** The reconciler's last findings, `null` when absent or unreadable. */
  readonly replication: {
    readonly measuredAt: string;
    readonly lagMs: Readonly<Record<string, number | null>>;
    readonly heartbeatAgeMs: Readonly<Record<string, number | null>>;
  } | null;
}

/** Bucket id of the reachability probe: `__` never starts a bucket id (policy ids are `[a-z0-9-]`). */
export const HEALTH_PROBE_BUCKET = '__health__';

/** What {@link checkHealth} needs. */
export interface HealthOptions {
  readonly region: string;
  readonly store: BucketStore;
  readonly statusReader?: ReplicationStatusReader;
  /** Budget of the probe (ms). */
  readonly budgetMs: number;
}

/** Probes the store and reads the replication status, in parallel, within one budget. */
export async function checkHealth(options: HealthOptions): Promise<HealthReport> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.budgetMs);
  try {
    const startedMs = performance.now();
    const [probe, status] = await Promise.allSettled([
      withDeadline(
        options.store.readSlot(HEALTH_PROBE_BUCKET, options.region, {
          consistent: false,
          abortSignal: controller.signal,
        }),
        controller.signal,
      ),
      options.statusReader === undefined
        ? Promise.resolve(undefined)
        : withDeadline(
            options.statusReader.readStatus(options.region, { abortSignal: controller.signal }),
            controller.signal,
          ),
    ]);
    const latencyMs = Math.round(performance.now() - startedMs);
    const reachable = probe.status === 'fulfilled';
    const replication =
      status.status === 'fulfilled' && status.value !== undefined ? status.value : undefined;
    return {
      status: reachable ? 'ok' : 'degraded',
      region: options.region,
      store: reachable
        ? { reachable, latencyMs }
        : {
            reachable,
            latencyMs,
            error: kindOf(probe.status === 'rejected' ? probe.reason : undefined),
          },
      replication:
        replication === undefined
          ? null
          : {
              measuredAt: new Date(replication.measuredAtMs).toISOString(),
              lagMs: replication.lagMs,
              heartbeatAgeMs: replication.heartbeatAgeMs,
            },
    };
  } finally {
    clearTimeout(timer);
  }
}

function kindOf(error: unknown): string {
  return error instanceof StoreError ? error.kind : 'unavailable';
}

function withDeadline<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(new StoreError('health probe budget spent', 'timeout'));
      return;
    }
    const onAbort = () => reject(new StoreError('health probe budget spent', 'timeout'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
