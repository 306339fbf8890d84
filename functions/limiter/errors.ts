/**
 * Errors of a rate-limit request that is malformed before any store call:
 * unknown policy, missing or oversized key, invalid cost. Handlers turn them
 * into clear client answers (400); they never reach the store.
 */

/** Which part of the request is wrong. */
export type LimitRequestField = 'policy' | 'key' | 'cost';

/** A rate-limit request the limiter refuses to evaluate; `field` names the culprit. */
export class LimitRequestError extends Error {
  override readonly name = 'LimitRequestError';
  /** With several limits: the index of the one at fault. */
  limitIndex: number | undefined;
  constructor(
    readonly field: LimitRequestField,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
