/**
 * The limiter service: one instance per container. Work in progress: the
 * constructor and method signatures are stable, the body lands next.
 */
import type { LimiterConfig } from '../config/schema';
import type { BucketStore } from '../store/types';
import {
  type LimiterCounters,
  type LimiterMetrics,
  type LimitRequest,
  type LimitResult,
  NOOP_METRICS,
} from './types';

/** What a {@link Limiter} is built from. */
export interface LimiterOptions {
  /** The validated config. */
  readonly config: LimiterConfig;
  /** This container's region: the slot it writes in eventual mode. */
  readonly region: string;
  /** The global table's replica in this region. */
  readonly store: BucketStore;
  /** The MRSC table, required when a policy is `strong`. */
  readonly strongStore?: BucketStore;
  /** Milliseconds since the epoch. @default Date.now */
  readonly clock?: () => number;
  /** Where decisions, store calls and fallbacks are reported. @default no metrics */
  readonly metrics?: LimiterMetrics;
}

/** Decides rate-limit requests for one container. */
export class Limiter {
  /** Counters of this container's work. */
  readonly counters: LimiterCounters = {
    decisions: 0,
    admitted: 0,
    refused: 0,
    reads: 0,
    writes: 0,
    storeErrors: 0,
    conditionalRetries: 0,
    fallbacks: 0,
    pendingLocalTokens: 0,
  };
  readonly #options: LimiterOptions;
  readonly #metrics: LimiterMetrics;

  constructor(options: LimiterOptions) {
    this.#options = options;
    this.#metrics = options.metrics ?? NOOP_METRICS;
  }

  /** Decides one request and consumes its cost when admitted. */
  async limit(request: LimitRequest): Promise<LimitResult> {
    void this.#metrics;
    throw new Error(`not implemented yet: ${request.policyId} in ${this.#options.region}`);
  }

  /** What a request would get now, consuming nothing. */
  async peek(request: LimitRequest): Promise<LimitResult> {
    throw new Error(`not implemented yet: ${request.policyId}`);
  }
}
