/**
 * The replication contract: how the reconciler keeps its heartbeat and its
 * status in the bucket table, and how `GET /health` reads the status back.
 * The DynamoDB adapter (dynamodb-replication-store.ts) is the only code that
 * speaks the SDK for these items; tests provide in-memory implementations.
 *
 * One store is one replica (region) of the table. Every item is written by
 * one region only (its own heartbeat, its own status), so replication's
 * last-writer-wins never drops one.
 *
 * Errors: every method rejects with a {@link StoreError} of one kind
 * (errors.ts): `timeout` when the signal had fired or fires during the call,
 * `invalid` for an item that cannot be decoded or a value that cannot be
 * stored (`cause` names the attribute), and the kind of the SDK error
 * otherwise. Nothing is written when a value is refused.
 */
import type { Heartbeat, ReconcilerStatus } from '../shared/replication-status';
import type { CallSignal } from './call-signal';
import type { StoreError } from './types';

/** How long a heartbeat outlives its last write (seconds): a retired region's item goes away. */
export const HEARTBEAT_TTL_SECONDS = 24 * 60 * 60;

/** How long a status item lives after its run (seconds). */
export const RECONCILER_STATUS_TTL_SECONDS = 24 * 60 * 60;

/** Most heartbeats {@link ReplicationStore.readHeartbeats} returns (far above any real number of regions). */
export const MAX_HEARTBEAT_ITEMS = 100;

/** Options of every call. */
export interface ReplicationCallOptions {
  /** Aborts the call (time budget); an already aborted signal sends nothing. */
  readonly abortSignal?: CallSignal;
}

/** The reconciler's items in one replica of the bucket table. */
export interface ReplicationStore {
  /**
   * Writes `region`'s heartbeat at `atMs` (epoch ms, a safe integer) and
   * resolves to it as stored: its sequence number is one more than the
   * previous write's in this replica (1 for the first). Called only in the
   * replica of `region` itself. The item expires
   * {@link HEARTBEAT_TTL_SECONDS} after `atMs`.
   *
   * @throws {@link StoreError} (`invalid` when `atMs` is not a safe integer)
   */
  writeHeartbeat(
    region: string,
    atMs: number,
    options?: ReplicationCallOptions,
  ): Promise<Heartbeat>;

  /**
   * `region`'s heartbeat as this replica holds it now (strongly consistent
   * read), or `undefined` when it has none yet. A `seq` at least the one a
   * write returned means that write has replicated here.
   *
   * @throws {@link StoreError}
   */
  readHeartbeat(region: string, options?: ReplicationCallOptions): Promise<Heartbeat | undefined>;

  /**
   * Every heartbeat this replica holds (strongly consistent, at most
   * {@link MAX_HEARTBEAT_ITEMS}, in any order). One malformed item fails the
   * whole read rather than hide a region.
   *
   * @throws {@link StoreError}
   */
  readHeartbeats(options?: ReplicationCallOptions): Promise<Heartbeat[]>;

  /**
   * Replaces the status item of `status.region` in this replica. The item
   * expires {@link RECONCILER_STATUS_TTL_SECONDS} after `measuredAtMs`.
   *
   * @throws {@link StoreError} (`invalid` when a number of `status` is not finite)
   */
  writeStatus(status: ReconcilerStatus, options?: ReplicationCallOptions): Promise<void>;

  /**
   * The status item of `region` in this replica (eventually consistent: it
   * is rewritten once a run), or `undefined` when that region's reconciler
   * never wrote one here or it expired.
   *
   * @throws {@link StoreError} (`invalid` for an item of another shape version or a malformed one)
   */
  readStatus(
    region: string,
    options?: ReplicationCallOptions,
  ): Promise<ReconcilerStatus | undefined>;
}
