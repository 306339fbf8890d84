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
 * A request charged to several limits carries one member per policy in
 * each list (`"api";r=40;t=0, "api-ip";r=7;t=0`), in the rule's order; the
 * fields are Lists of Items (RFC 9651, Structured Field Values), so a
 * comma-separated list is the standard form. Shadow policies are left out:
 * clients never see a limit that is not enforced.
 *
 * Policy ids are `[a-z0-9-]`, so they need no escaping inside the quoted string.
 */
import type { LimitResult, MultiLimitResult } from '../limiter/types';

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

/** The members of the limits clients see (shadow policies left out), in order. */
export function visibleResults(results: readonly LimitResult[]): LimitResult[] {
  return results.filter((r) => r.shadow === undefined);
}

/** `RateLimit-Policy` of several limits: one member per policy. */
export function rateLimitPolicyList(results: readonly LimitResult[]): string {
  return results.map(rateLimitPolicyValue).join(', ');
}

/** `RateLimit` of several limits: one member per policy. */
export function rateLimitList(results: readonly LimitResult[]): string {
  return results.map(rateLimitValue).join(', ');
}

/**
 * The response headers of a request charged to several limits: every
 * enforced limit in both lists, and `Retry-After` from the limit the
 * refusal follows. Empty when every limit is a shadow one.
 */
export function multiRateLimitHeaders(multi: MultiLimitResult): Record<string, string> {
  const visible = visibleResults(multi.results);
  const headers: Record<string, string> = {};
  if (visible.length > 0) {
    headers[RATE_LIMIT_HEADERS.policy] = rateLimitPolicyList(visible);
    headers[RATE_LIMIT_HEADERS.state] = rateLimitList(visible);
  }
  const decided = multi.results[multi.decidedBy];
  if (!multi.allowed && decided !== undefined && decided.source !== 'denylist') {
    headers[RATE_LIMIT_HEADERS.retryAfter] = String(retryAfterSeconds(decided));
  }
  return headers;
}
