/**
 * Configs for the infra tests: the shipped config with a fixed account (the
 * real one may come from the environment), and variants built from it.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import type { LimiterConfig, PolicyConfig } from '../../functions/config/schema';
import shipped from '../../limiter.config';
import { REPO_ROOT } from '../../scripts/build-functions';

/** Account of every test config. */
export const TEST_ACCOUNT = '123456789012';

/** The shipped config, deep-copied, with {@link TEST_ACCOUNT}. */
export function baseConfig(): LimiterConfig {
  return { ...structuredClone(shipped), account: TEST_ACCOUNT };
}

/** The shipped config plus a strong policy on an MRSC table over the US region set. */
export function strongConfig(): LimiterConfig {
  const base = baseConfig();
  const strongPolicy: PolicyConfig = {
    id: 'payments',
    capacityTokens: 20,
    refillTokens: 5,
    consistency: 'strong',
    onStoreError: 'closed',
    watchKeys: ['all'],
  };
  return {
    ...base,
    regions: ['us-east-1', 'us-east-2', 'us-west-2', 'eu-west-1'],
    strong: {
      tableName: 'edge-rate-limiter-strong',
      regions: ['us-east-2', 'us-east-1', 'us-west-2'],
    },
    policies: [...base.policies, strongPolicy],
    rules: [
      {
        id: 'payments',
        match: { path: '/payments/**' },
        policy: 'payments',
        key: [{ header: 'x-api-key' }],
      },
      ...base.rules,
    ],
  };
}

/** One region only: no replicas, no replication alarms. */
export function singleRegionConfig(): LimiterConfig {
  return { ...baseConfig(), regions: ['eu-west-1'] };
}

/** An App with the context of cdk.json, as `cdk synth` runs it (feature flags included). */
export function appLikeCli(): App {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return new App({ context: cdkJson.context ?? {} });
}
