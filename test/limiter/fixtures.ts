/** Configs, clocks and metric recorders shared by the limiter and API tests. */
import type { LimiterConfig, PolicyConfig } from '../../functions/config/schema';
import { assertConfig } from '../../functions/config/schema';
import type { LimiterMetrics } from '../../functions/limiter/types';

/** A valid config holding `policies` (validated, so a broken fixture fails loudly). */
export function configWith(
  policies: readonly PolicyConfig[],
  runtime: LimiterConfig['runtime'] = {},
  extra: Partial<LimiterConfig> = {},
): LimiterConfig {
  return assertConfig({
    appName: 'Test',
    account: '111111111111',
    regions: ['us-east-1', 'eu-west-1', 'ap-southeast-1'],
    tableName: 'buckets',
    origin: { domainName: 'api.example.com' },
    policies,
    rules: [],
    runtime,
    ...extra,
  });
}

/** The regions of {@link configWith}, in its order. */
export const FIXTURE_REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'] as const;

/** An escrow bucket of 30 tokens, 3 a second: each region starts with 10 tokens and 1 a second. */
export const ESCROW_PLAN: PolicyConfig = {
  id: 'plan',
  capacityTokens: 30,
  refillTokens: 3,
  consistency: 'escrow',
  onStoreError: 'closed',
};

/** A busy API key's bucket: 1,000 tokens, 100 per second, so leases are on by default. */
export const LEASING_API: PolicyConfig = {
  id: 'api',
  capacityTokens: 1000,
  refillTokens: 100,
  refillIntervalMs: 1000,
  onStoreError: 'closed',
};

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public nowMs = 1_700_000_000_000) {}
  readonly now = (): number => this.nowMs;
  advance(ms: number): void {
    this.nowMs += ms;
  }
}

/** Records every metric event. */
export class RecordingMetrics implements LimiterMetrics {
  readonly events: { type: string; [k: string]: unknown }[] = [];
  decision(e: Parameters<LimiterMetrics['decision']>[0]): void {
    this.events.push({ type: 'decision', ...e });
  }
  storeCall(e: Parameters<LimiterMetrics['storeCall']>[0]): void {
    this.events.push({ type: 'storeCall', ...e });
  }
  fallback(e: Parameters<LimiterMetrics['fallback']>[0]): void {
    this.events.push({ type: 'fallback', ...e });
  }
  conditionalRetry(e: Parameters<LimiterMetrics['conditionalRetry']>[0]): void {
    this.events.push({ type: 'conditionalRetry', ...e });
  }
  of(type: string): { type: string; [k: string]: unknown }[] {
    return this.events.filter((e) => e.type === type);
  }
}
