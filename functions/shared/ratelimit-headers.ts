/**
 * IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers, 10/11) and
 * `Retry-After`, from a {@link LimitResult}: one definition for the regional
 * API and the edge, so both answer with the same syntax.
 *
 * - `RateLimit-Policy: "<policy>";q=<capacity>;w=<seconds to refill from empty>`
 * - `RateLimit: "<policy>";r=<remaining tokens>;t=<seconds until one more request is admitted>`
 * - `Retry-After: <seconds>` on a refusal only, rounded up and at least 1
 *   (a client told "0" would retry at once and be refused again).
 *
 * Policy ids are `[a-z0-9-]`, so they need no escaping inside the quoted string.
 */
import type { LimitResult } from '../limiter/types';

/** Header names, as sent. */
export const RATE_LIMIT_HEADERS = {
  policy: 'RateLimit-Policy',
  state: 'RateLimit',
  retryAfter: 'Retry-After',
} as const;

/** Whole seconds, rounded up; 0 for zero, negative or non-finite input. */
export function secondsCeil(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? Math.ceil(ms / 1000) : 0;
}

/** The `Retry-After` seconds of a refusal: rounded up, at least 1. */
export function retryAfterSeconds(result: Pick<LimitResult, 'retryAfterMs'>): number {
  return Math.max(1, secondsCeil(result.retryAfterMs));
}

/** `"<policy>";q=<capacity>;w=<window seconds>`. */
export function rateLimitPolicyValue(
  result: Pick<LimitResult, 'policy' | 'limitTokens' | 'windowSeconds'>,
): string {
  const q = Math.max(0, Math.floor(result.limitTokens));
  const w = Math.max(1, Math.ceil(result.windowSeconds));
  return `"${result.policy}";q=${q};w=${w}`;
}

/** `"<policy>";r=<remaining>;t=<seconds until one more request is admitted>`. */
export function rateLimitValue(
  result: Pick<LimitResult, 'policy' | 'remainingTokens' | 'retryAfterMs'>,
): string {
  const r = Math.max(0, Math.floor(result.remainingTokens));
  return `"${result.policy}";r=${r};t=${secondsCeil(result.retryAfterMs)}`;
}

/**
 * The response headers of a decision. `Retry-After` is added when the
 * request was refused by the limit (not for deny-listed keys: waiting does
 * not help them).
 */
export function rateLimitHeaders(result: LimitResult): Record<string, string> {
  const headers: Record<string, string> = {
    [RATE_LIMIT_HEADERS.policy]: rateLimitPolicyValue(result),
    [RATE_LIMIT_HEADERS.state]: rateLimitValue(result),
  };
  if (!result.allowed && result.source !== 'denylist') {
    headers[RATE_LIMIT_HEADERS.retryAfter] = String(retryAfterSeconds(result));
  }
  return headers;
}
