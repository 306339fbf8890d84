/**
 * Shaping a decision into the {@link LimitResult} handlers turn into
 * responses: shadow mode, allow and deny lists, fallbacks.
 */
import type { ResolvedPolicy } from '../config/resolve';
import type { Outcome } from './pipeline';
import type { LimitResult } from './types';

/**
 * Shapes an outcome into the answer handlers turn into responses. A quota's
 * bucket never refills: what it lacks comes back when its period ends, so
 * its waits are the time left in the period (`nowMs` is the decision's time).
 */
export function shapeResult(policy: ResolvedPolicy, outcome: Outcome, nowMs: number): LimitResult {
  const d = outcome.decision;
  const periodLeftMs =
    policy.periodEndsAtMs === undefined ? undefined : Math.max(0, policy.periodEndsAtMs - nowMs);
  const wait = (ms: number) =>
    periodLeftMs === undefined || ms <= periodLeftMs ? ms : periodLeftMs;
  const listed = outcome.source === 'denylist' || outcome.source === 'allowlist';
  const enforced = listed ? d.allowed : policy.shadow || d.allowed;
  return {
    allowed: enforced,
    policy: policy.id,
    limitTokens: policy.bucket.capacityTokens,
    remainingTokens: Math.min(policy.bucket.capacityTokens, d.remainingTokens),
    retryAfterMs: wait(d.retryAfterMs),
    resetAfterMs: periodLeftMs ?? d.resetAfterMs,
    windowSeconds: policy.windowSeconds,
    source: outcome.source,
    ...(outcome.fallback === undefined
      ? {}
      : { fallback: outcome.fallback.mode, fallbackCause: outcome.fallback.cause }),
    ...(policy.shadow && !listed ? { shadow: { wouldAllow: d.allowed } } : {}),
  };
}
