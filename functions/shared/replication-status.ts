/**
 * What the reconciler measures about replication, as plain data: its
 * heartbeat, and the status of one run that `GET /health` shows.
 *
 * Why here: the reconciler writes these shapes, the regional API and the
 * local runtime read them, and the store persists them
 * (functions/store/replication-store.ts). Keeping them apart from all three
 * lets each depend on the shapes without depending on the others. Pure: no
 * SDK, no clock.
 */

/** One region's heartbeat. */
export interface Heartbeat {
  /** The writing region. */
  readonly region: string;
  /** Write time (epoch ms, the writer's clock). */
  readonly atMs: number;
  /** Sequence number of the write (+1 per write). */
  readonly seq: number;
}

/** A watched bucket as the last run saw it. */
export interface WatchedBucketStatus {
  /** Policy id. */
  readonly policy: string;
  /** The watched key, as configured (not hashed: it is config, not caller data). */
  readonly key: string;
  /** Level / capacity in this region's replica, 0..1 (below 0 after over-admission); null when unread. */
  readonly levelRatio: number | null;
  /** Max − min level across the replicas that answered (tokens); null when fewer than two answered. */
  readonly divergenceTokens: number | null;
  /** How many replicas answered. */
  readonly replicas: number;
}

/** What one reconciler run found, as `GET /health` reports it. */
export interface ReconcilerStatus {
  /** The region whose reconciler measured (and whose replica holds its heartbeat). */
  readonly region: string;
  /** When the run started (epoch ms). */
  readonly measuredAtMs: number;
  /** How long the run took (ms). */
  readonly durationMs: number;
  /**
   * Replication lag from this region to each other region (ms): how long this
   * run's heartbeat took to appear in that region's replica. `null` when it
   * did not appear within the wait or the replica could not be read.
   */
  readonly lagMs: Readonly<Record<string, number | null>>;
  /**
   * Age of each other region's newest heartbeat as seen in this region's
   * replica (ms); `null` when none was ever seen. A large age means that
   * region stopped writing or stopped replicating here.
   */
  readonly heartbeatAgeMs: Readonly<Record<string, number | null>>;
  /** Watched buckets, in config order. */
  readonly watched: readonly WatchedBucketStatus[];
  /** Store calls that failed during the run. */
  readonly errorCount: number;
}

/** Whether a status is older than `maxAgeMs` at `nowMs` (the reconciler stopped running). */
export function isReconcilerStatusStale(
  status: ReconcilerStatus,
  nowMs: number,
  maxAgeMs: number,
): boolean {
  return nowMs - status.measuredAtMs > maxAgeMs;
}
