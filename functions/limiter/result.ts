/**
 * Shaping a decision into the {@link LimitResult} handlers turn into
 * responses: shadow mode, allow and deny lists, fallbacks.
 */
import type { ResolvedPolicy } from '../config/resolve';
import type { Outcome } from './pipeline';
import type { LimitResult } from './types';

/** Shapes an outcome into the answer handlers turn into responses. */
export function shapeResult(policy: ResolvedPolicy, outcome: Outcome): LimitResult {
  const d = outcome.decision;
  const listed = outcome.source === 'denylist' || outcome.source === 'allowlist';
  const enforced = listed ? d.allowed : policy.shadow || d.allowed;
  return {
    allowed: enforced,
    policy: policy.id,
    limitTokens: policy.bucket.capacityTokens,
    remainingTokens: Math.min(policy.bucket.capacityTokens, d.remainingTokens),
    retryAfterMs: d.retryAfterMs,
    resetAfterMs: d.resetAfterMs,
    windowSeconds: policy.windowSeconds,
    source: outcome.source,
    ...(outcome.fallback === undefined
      ? {}
      : { fallback: outcome.fallback.mode, fallbackCause: outcome.fallback.cause }),
    ...(policy.shadow && !listed ? { shadow: { wouldAllow: d.allowed } } : {}),
  };
}
