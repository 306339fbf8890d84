/**
 * cdk.json pins every feature flag aws-cdk-lib recommends (the list `cdk
 * init` writes), so `cdk synth` has nothing unconfigured to warn about and an
 * upgrade of aws-cdk-lib that brings new flags fails here until they are
 * pinned on purpose. Deviations from the recommendation are listed with why.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildLimiterApp } from '../../infra/limiter-app';
import { REPO_ROOT } from '../../scripts/build-functions';
import { appLikeCli, baseConfig } from './fixtures';

const require = createRequire(import.meta.url);

/** Flags set against aws-cdk-lib's recommendation, and why. */
const DEVIATIONS: Readonly<Record<string, { readonly value: unknown; readonly why: string }>> = {
  '@aws-cdk/aws-lambda:useCdkManagedLogGroup': {
    value: false,
    why:
      'true adds a retained /aws/lambda/<name> log group (731 days) for each Lambda@Edge ' +
      'function in us-east-1, which Lambda@Edge never writes to (its logs go to ' +
      '/aws/lambda/us-east-1.<name> in the serving region); the regional functions already ' +
      'bring their own log group with the project retention',
  },
};

function cdkContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

describe('cdk.json feature flags', () => {
  it('pins every flag aws-cdk-lib recommends, at its recommended value unless listed', () => {
    const recommended = require('aws-cdk-lib/recommended-feature-flags.json') as Record<
      string,
      unknown
    >;
    const context = cdkContext();
    const expected = Object.fromEntries(
      Object.entries(recommended).map(([flag, value]) => [
        flag,
        flag in DEVIATIONS ? DEVIATIONS[flag]?.value : value,
      ]),
    );
    const pinned = Object.fromEntries(Object.keys(recommended).map((f) => [f, context[f]]));
    expect(pinned).toEqual(expected);
    for (const flag of Object.keys(DEVIATIONS)) expect(recommended).toHaveProperty([flag]);
  });

  it('synthesizes no log group for the edge functions', () => {
    const built = buildLimiterApp(baseConfig(), { app: appLikeCli(), nag: false });
    expect(Template.fromStack(built.edge).findResources('AWS::Logs::LogGroup')).toEqual({});
  });
});
