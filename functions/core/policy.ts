/**
 * Bucket policy and its fixed-point arithmetic.
 *
 * Why fixed point: a level is kept in *scaled units* of `tokens × refillIntervalMs`.
 * With integer capacity, refill, interval, cost and millisecond times, every
 * level, refill and consumption is then an integer, so the merge on read is
 * exact (no floating-point drift between regions, no off-by-epsilon admits at
 * refill boundaries). One token is `refillIntervalMs` scaled units and the
 * bucket refills `refillTokens` scaled units per millisecond.
 *
 * Invariants checked by {@link validateBucketPolicy}:
 * - every field is a positive safe integer, but `refillTokens`, which is 0 for
 *   a quota period's bucket: nothing refills, and the bucket is used until
 *   `endsAtMs` only (its items expire a grace after it);
 * - `capacityTokens × refillIntervalMs` stays far below 2^53.
 */

/** The shape of one token bucket. All fields are positive integers. */
export interface BucketPolicy {
  /** Most tokens the bucket holds (its burst size). */
  readonly capacityTokens: number;
  /** Tokens added per `refillIntervalMs`, continuously (not in steps). */
  readonly refillTokens: number;
  /** The refill interval in milliseconds, e.g. `1000` for "per second". */
  readonly refillIntervalMs: number;
  /**
   * With `refillTokens` 0 only (a quota's bucket for one calendar period):
   * the first moment the bucket is no longer used (ms since the epoch). Its
   * items expire a grace after it instead of after a refill.
   */
  readonly endsAtMs?: number;
}

/** Largest scaled capacity accepted; leaves ample headroom below 2^53. */
export const MAX_SCALED_CAPACITY = 1e13;

/** Lower bound on the TTL grace of slot items (see docs/design.md, "Data model"). */
export const MIN_TTL_GRACE_SECONDS = 3600;

/**
 * Lists every problem of a bucket policy (empty when valid). Problems name the
 * field they concern so a config error can point at it.
 */
export function validateBucketPolicy(policy: BucketPolicy, costTokens?: number): string[] {
  const problems: string[] = [];
  const positiveInt = (name: string, value: unknown) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      problems.push(`${name} must be a positive integer (got ${String(value)})`);
      return false;
    }
    return true;
  };
  const capOk = positiveInt('capacityTokens', policy.capacityTokens);
  if (policy.refillTokens === 0) {
    if (policy.endsAtMs === undefined || !Number.isSafeInteger(policy.endsAtMs)) {
      problems.push(
        `a bucket that never refills (refillTokens 0) needs endsAtMs, a safe integer (got ${String(policy.endsAtMs)})`,
      );
    }
  } else {
    positiveInt('refillTokens', policy.refillTokens);
    if (policy.endsAtMs !== undefined) {
      problems.push('endsAtMs is only for a bucket that never refills (refillTokens 0)');
    }
  }
  const intervalOk = positiveInt('refillIntervalMs', policy.refillIntervalMs);
  if (
    capOk &&
    intervalOk &&
    policy.capacityTokens * policy.refillIntervalMs > MAX_SCALED_CAPACITY
  ) {
    problems.push(
      `capacityTokens × refillIntervalMs must be at most ${MAX_SCALED_CAPACITY} (got ${
        policy.capacityTokens * policy.refillIntervalMs
      }); use a shorter refill interval`,
    );
  }
  if (costTokens !== undefined) {
    problems.push(...validateCost(policy, costTokens));
  }
  return problems;
}

/** Lists the problems of a request cost against a policy (empty when valid). */
export function validateCost(policy: BucketPolicy, costTokens: number): string[] {
  if (!Number.isSafeInteger(costTokens) || costTokens <= 0) {
    return [`cost must be a positive integer (got ${String(costTokens)})`];
  }
  if (costTokens > policy.capacityTokens) {
    return [
      `cost ${costTokens} exceeds capacityTokens ${policy.capacityTokens}: it could never be admitted`,
    ];
  }
  return [];
}

/** Thrown when a policy or a cost is invalid; `problems` lists every one. */
export class InvalidPolicyError extends Error {
  override readonly name = 'InvalidPolicyError';
  constructor(
    readonly problems: string[],
    options?: { cause?: unknown },
  ) {
    super(`invalid bucket policy: ${problems.join('; ')}`, options);
  }
}

/** Throws {@link InvalidPolicyError} listing every problem, if any. */
export function assertBucketPolicy(policy: BucketPolicy, costTokens?: number): void {
  const problems = validateBucketPolicy(policy, costTokens);
  if (problems.length > 0) throw new InvalidPolicyError(problems);
}

/** Policies already checked by {@link checkedPolicy}: the hot path validates each object once. */
const checkedPolicies = new WeakSet<BucketPolicy>();

/**
 * The policy, after checking it once per object (later calls with the same
 * object cost a set lookup). Every entry point of the core calls it, so a
 * policy with a zero or fractional field can never produce a NaN level.
 *
 * @throws {@link InvalidPolicyError} listing every problem.
 */
export function checkedPolicy(policy: BucketPolicy): BucketPolicy {
  if (checkedPolicies.has(policy)) return policy;
  assertBucketPolicy(policy);
  checkedPolicies.add(policy);
  return policy;
}

/** Thrown when a time passed to the core is not a safe integer of milliseconds. */
export class InvalidTimeError extends Error {
  override readonly name = 'InvalidTimeError';
  constructor(
    readonly value: unknown,
    options?: { cause?: unknown },
  ) {
    super(`nowMs must be a safe integer of milliseconds (got ${String(value)})`, options);
  }
}

/**
 * Checks a time argument: a NaN or fractional `nowMs` would otherwise admit
 * and write a NaN checkpoint that no later merge could read.
 *
 * @throws {@link InvalidTimeError}
 */
export function checkedTime(nowMs: number): number {
  if (!Number.isSafeInteger(nowMs)) throw new InvalidTimeError(nowMs);
  return nowMs;
}

/** Scaled units per token. */
export function scale(policy: BucketPolicy): number {
  return policy.refillIntervalMs;
}

/** The capacity in scaled units. */
export function scaledCapacity(policy: BucketPolicy): number {
  return policy.capacityTokens * policy.refillIntervalMs;
}

/** Milliseconds for the bucket to refill from empty to full (infinite when it never refills). */
export function fullRefillMs(policy: BucketPolicy): number {
  if (policy.refillTokens === 0) return Number.POSITIVE_INFINITY;
  return Math.ceil(scaledCapacity(policy) / policy.refillTokens);
}

/**
 * Milliseconds until a scaled level reaches `targetScaled` (0 when already
 * there; infinite when it never will: a bucket that never refills).
 */
export function msUntil(policy: BucketPolicy, levelScaled: number, targetScaled: number): number {
  if (levelScaled >= targetScaled) return 0;
  if (policy.refillTokens === 0) return Number.POSITIVE_INFINITY;
  return Math.ceil((targetScaled - levelScaled) / policy.refillTokens);
}

/** Converts a scaled level into tokens (may be fractional or negative). */
export function toTokens(policy: BucketPolicy, levelScaled: number): number {
  return levelScaled / policy.refillIntervalMs;
}

/**
 * The `ttl` attribute (epoch seconds) for a slot written at `atMs`: long enough
 * for the bucket to refill to capacity from the level the write leaves
 * (`levelAfterScaled`; from empty when not given, and never less), plus a
 * grace period, so an item only expires once forgetting it cannot raise any
 * level above what the exact bucket would hold. A write that records a debt
 * (a negative level) therefore lives until the debt has refilled.
 */
export function ttlEpochSeconds(
  policy: BucketPolicy,
  atMs: number,
  graceSeconds = MIN_TTL_GRACE_SECONDS,
  levelAfterScaled = 0,
): number {
  const grace = Math.max(graceSeconds, MIN_TTL_GRACE_SECONDS);
  // A quota period's bucket is never read after its end: nothing it holds can matter then.
  if (policy.refillTokens === 0) return Math.ceil((policy.endsAtMs ?? atMs) / 1000) + grace;
  const refillMs = Math.max(
    fullRefillMs(policy),
    msUntil(policy, Math.min(0, levelAfterScaled), scaledCapacity(policy)),
  );
  return Math.ceil((atMs + refillMs) / 1000) + grace;
}
