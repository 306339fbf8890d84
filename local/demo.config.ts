/**
 * The config `npm start` runs when no `--config` is given: the project's
 * limiter.config.ts (same regions, policies and rules, including the `demo`
 * rule: paths under `/demo/`, keyed by `x-api-key` or else the client IP,
 * 10 tokens, 1 token/s, cost 1), with two changes for a laptop:
 *
 * - the demo keys `alice` and `bob` are watched, so the status table shows
 *   their level in every region as it drifts and converges;
 * - the store budget is 500 ms instead of the deployed 150 ms. Embedded
 *   DynamoDB on a busy laptop (one process emulating every region, tests or
 *   a build running beside it) answers in 5 to 60 ms per call, and a cold
 *   bundle's first decision needs two calls plus SDK start-up: with the
 *   deployed budget, the first requests of a demo would be decided by the
 *   failure mode instead of the store. `--config limiter.config.ts` runs
 *   the deployed tuning unchanged.
 */
import type { LimiterConfig } from '../functions/config/schema';
import { config as projectConfig } from '../limiter.config';

/** Demo keys whose buckets the reconciler watches. */
export const DEMO_WATCH_KEYS = ['alice', 'bob'] as const;

/** Store budget of the local default config (ms). */
export const LOCAL_STORE_BUDGET_MS = 500;

export const config: LimiterConfig = {
  ...projectConfig,
  policies: projectConfig.policies.map((p) =>
    p.id === 'demo' ? { ...p, watchKeys: [...(p.watchKeys ?? []), ...DEMO_WATCH_KEYS] } : p,
  ),
  runtime: { ...projectConfig.runtime, storeBudgetMs: LOCAL_STORE_BUDGET_MS },
};

export default config;
