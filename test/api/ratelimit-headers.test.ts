/** RateLimit, RateLimit-Policy and Retry-After values. */
import { describe, expect, it } from 'vitest';
import type { LimitResult } from '../../functions/limiter/types';
import { rateLimitHeaders } from '../../functions/shared/ratelimit-headers';

const base: LimitResult = {
  allowed: true,
  policy: 'api',
  limitTokens: 100,
  remainingTokens: 42,
  retryAfterMs: 0,
  resetAfterMs: 29_000,
  windowSeconds: 2,
  source: 'store',
};

describe('rateLimitHeaders', () => {
  const cases: [string, Partial<LimitResult>, Record<string, string>][] = [
    ['an admission', {}, { 'RateLimit-Policy': '"api";q=100;w=2', RateLimit: '"api";r=42;t=0' }],
    [
      'a refusal rounds the wait up',
      { allowed: false, remainingTokens: 0, retryAfterMs: 1001 },
      { 'RateLimit-Policy': '"api";q=100;w=2', RateLimit: '"api";r=0;t=2', 'Retry-After': '2' },
    ],
    [
      'a refusal never says Retry-After: 0',
      { allowed: false, remainingTokens: 0, retryAfterMs: 0 },
      { 'RateLimit-Policy': '"api";q=100;w=2', RateLimit: '"api";r=0;t=0', 'Retry-After': '1' },
    ],
    [
      'a deny-listed key gets no Retry-After',
      { allowed: false, source: 'denylist', remainingTokens: 0, retryAfterMs: 5000 },
      { 'RateLimit-Policy': '"api";q=100;w=2', RateLimit: '"api";r=0;t=5' },
    ],
    [
      'an admission with nothing left says when the next one fits',
      { remainingTokens: 0, retryAfterMs: 250 },
      { 'RateLimit-Policy': '"api";q=100;w=2', RateLimit: '"api";r=0;t=1' },
    ],
  ];
  for (const [label, patch, expected] of cases) {
    it(label, () => {
      expect(rateLimitHeaders({ ...base, ...patch })).toEqual(expected);
    });
  }
});
