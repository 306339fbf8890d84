/**
 * The replication probe of one link: after this region wrote its heartbeat,
 * poll another region's replica until the heartbeat (or a newer one) shows.
 *
 * How the lag is estimated: a call takes effect somewhere between sending it
 * and getting the answer, so the write and every read are placed at their
 * midpoints. The heartbeat landed after the last read that did not see it
 * (or after the write) and before the first read that did; the lag is the
 * middle of that window minus the write: error at most half the window
 * (`resolutionMs / 2`, i.e. half a poll interval plus half a cross-region
 * round trip). Every time comes from this region's clock: no clock skew.
 *
 * Bounds: at most `maxPolls` reads, none after `waitMs`, each read cut at
 * `callTimeoutMs` or at the end of the wait, all stopped by the run's signal.
 * Polls back off from `firstPollIntervalMs` by ×1.5 up to `maxPollIntervalMs`.
 */

import type { ReplicationStore } from '../store/replication-store';
import { callSignal, type Sleep } from './budget';

/** What one probe needs. */
export interface ProbeInput {
  /** The receiving region's replica. */
  readonly store: Pick<ReplicationStore, 'readHeartbeat'>;
  /** The region that wrote the heartbeat (this one). */
  readonly sourceRegion: string;
  /** The sequence number the write produced; any `seq ≥` it counts as arrived. */
  readonly seq: number;
  /** Midpoint of the heartbeat write (ms, {@link ProbeInput.nowFn}'s clock). */
  readonly writeMidMs: number;
  /** When the write was acknowledged: the wait counts from here (ms). */
  readonly writeAckMs: number;
  /** Longest wait for the heartbeat (ms). */
  readonly waitMs: number;
  /** Longest single read (ms). */
  readonly callTimeoutMs: number;
  readonly firstPollIntervalMs: number;
  readonly maxPollIntervalMs: number;
  /** Most reads of this probe. */
  readonly maxPolls: number;
  /** The run's signal: stops polling when it aborts. */
  readonly runSignal: AbortSignal;
  readonly nowFn: () => number;
  readonly sleep: Sleep;
}

/** The heartbeat showed in the receiving replica. */
export interface ProbeArrived {
  readonly kind: 'arrived';
  /** Estimated replication lag (ms, ≥ 0). */
  readonly lagMs: number;
  /** Width of the window the heartbeat landed in (ms); the estimate is its middle. */
  readonly resolutionMs: number;
  /** Reads made, the successful one included. */
  readonly polls: number;
  /** Reads that failed before it showed. */
  readonly errors: number;
}

/** The heartbeat did not show within the wait (or the replica could not be read). */
export interface ProbeNotSeen {
  readonly kind: 'not-seen';
  /** How long the probe waited after the write (ms). */
  readonly waitedMs: number;
  readonly polls: number;
  /** Reads that failed; `errors === polls` means the replica was unreachable. */
  readonly errors: number;
  /** The last read error, if any. */
  readonly lastError?: unknown;
  /** Newest sequence seen there, if any (how far behind the replica is). */
  readonly seenSeq?: number;
}

/** The result of one probe. */
export type ProbeOutcome = ProbeArrived | ProbeNotSeen;

/** Polls one replica for the heartbeat; never rejects (failures are part of the outcome). */
export async function probeReplica(input: ProbeInput): Promise<ProbeOutcome> {
  const { nowFn } = input;
  const deadlineMs = input.writeAckMs + input.waitMs;
  let intervalMs = input.firstPollIntervalMs;
  let polls = 0;
  let errors = 0;
  let lastError: unknown;
  let seenSeq: number | undefined;
  // Midpoint of the last read that answered without the heartbeat: it landed after this.
  let notYetMs = input.writeMidMs;
  while (polls < input.maxPolls && !input.runSignal.aborted) {
    const sendMs = nowFn();
    const remainingMs = deadlineMs - sendMs;
    if (remainingMs <= 0) break;
    polls += 1;
    try {
      const heartbeat = await input.store.readHeartbeat(input.sourceRegion, {
        abortSignal: callSignal(input.runSignal, Math.min(input.callTimeoutMs, remainingMs)),
      });
      const readMidMs = (sendMs + nowFn()) / 2;
      if (heartbeat !== undefined) seenSeq = heartbeat.seq;
      if (heartbeat !== undefined && heartbeat.seq >= input.seq) {
        const landedMs = (Math.max(notYetMs, input.writeMidMs) + readMidMs) / 2;
        return {
          kind: 'arrived',
          lagMs: Math.max(0, Math.round(landedMs - input.writeMidMs)),
          resolutionMs: Math.max(0, Math.round(readMidMs - notYetMs)),
          polls,
          errors,
        };
      }
      notYetMs = readMidMs;
    } catch (error) {
      errors += 1;
      lastError = error;
    }
    const sleepMs = Math.min(intervalMs, deadlineMs - nowFn());
    if (sleepMs > 0) await input.sleep(sleepMs, input.runSignal);
    intervalMs = Math.min(input.maxPollIntervalMs, intervalMs * 1.5);
  }
  return {
    kind: 'not-seen',
    waitedMs: nowFn() - input.writeAckMs,
    polls,
    errors,
    ...(lastError === undefined ? {} : { lastError }),
    ...(seenSeq === undefined ? {} : { seenSeq }),
  };
}
