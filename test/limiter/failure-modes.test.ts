/**
 * The failure modes alone: what `open`, `closed` and `local` answer, what
 * `local` records, and the last resort for a failure of the limiter itself.
 */
import { describe, expect, it } from 'vitest';
import { resolvePolicy } from '../../functions/config/resolve';
import type { PolicyConfig } from '../../functions/config/schema';
import { BucketCache } from '../../functions/limiter/bucket-cache';
import {
  CLOSED_RETRY_AFTER_MS,
  FailureModes,
  unexpectedFailureResult,
} from '../../functions/limiter/failure-modes';
import { PendingWrites } from '../../functions/limiter/pending-writes';

const base: PolicyConfig = { id: 'p', capacityTokens: 100, refillTokens: 1, localShare: 0.1 };

function setup(onStoreError: 'open' | 'closed' | 'local', maxPending = 10) {
  const pending = new PendingWrites(maxPending);
  const modes = new FailureModes(pending);
  const cache = new BucketCache({ maxBuckets: 10 });
  const policy = resolvePolicy({ ...base, onStoreError });
  return { pending, modes, policy, state: (id: string) => cache.get(id, 'p') };
}

describe('failure modes', () => {
  it('open admits and records nothing; closed refuses with a short Retry-After', () => {
    const open = setup('open');
    const a = open.modes.decide(open.policy, open.state('k'), 1, 0, 'store-error', true);
    expect(a).toMatchObject({ mode: 'open', debtTokens: 0, decision: { allowed: true } });
    expect(open.pending.size).toBe(0);
    const closed = setup('closed');
    const r = closed.modes.decide(closed.policy, closed.state('k'), 1, 0, 'store-down', true);
    expect(r).toMatchObject({ mode: 'closed', cause: 'store-down', decision: { allowed: false } });
    expect(r.decision.retryAfterMs).toBe(CLOSED_RETRY_AFTER_MS);
  });

  it('local admits its share, records each admission as debt, peeks without drawing', () => {
    const { modes, policy, pending, state } = setup('local');
    const s = state('k');
    const peek = modes.decide(policy, s, 1, 0, 'store-error', false);
    expect(peek.decision).toMatchObject({ allowed: true, remainingTokens: 10 });
    const answers = Array.from({ length: 12 }, () =>
      modes.decide(policy, s, 1, 0, 'store-error', true),
    );
    expect(answers.filter((a) => a.decision.allowed)).toHaveLength(10);
    expect(pending.debtTokens).toBe(10);
    // Tokens a write still in flight carries are not recorded twice.
    const other = state('other');
    modes.decide(policy, other, 1, 0, 'store-slow', true, false);
    expect(pending.debtTokens).toBe(10);
  });

  it('local refuses what it could not record once the pending writes are full', () => {
    const { modes, policy, state } = setup('local', 1);
    expect(modes.decide(policy, state('a'), 1, 0, 'store-error', true).decision.allowed).toBe(true);
    expect(modes.decide(policy, state('b'), 1, 0, 'store-error', true).decision.allowed).toBe(
      false,
    );
  });

  it('a failure of the limiter itself: closed refuses, open and local admit, marked internal', () => {
    for (const [mode, allowed] of [
      ['open', true],
      ['closed', false],
      ['local', true],
    ] as const) {
      const result = unexpectedFailureResult(resolvePolicy({ ...base, onStoreError: mode }), 3, 0);
      expect(result).toMatchObject({ allowed, fallback: mode, fallbackCause: 'internal' });
    }
  });
});
