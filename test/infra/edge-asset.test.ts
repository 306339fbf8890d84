/**
 * Only what the edge reads is compiled into the Lambda@Edge bundle, checked
 * on the synthesized edge stack: the viewer-request function's code asset
 * (its S3 key is the asset's content hash) and its published version stay
 * the same when only an alarm threshold or the pager addresses change, so
 * such a deploy publishes no new Lambda@Edge version; a policy's capacity,
 * which the edge decides with, changes both.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LimiterConfig } from '../../functions/config/schema';
import { buildLimiterApp } from '../../infra/limiter-app';
import { baseConfig } from './fixtures';
import { resourcesOf } from './template-helpers';

/** What identifies the deployed viewer-request code in the edge template. */
interface EdgeCode {
  /** The code asset's object key: the hash of the bundle directory. */
  readonly s3Key: unknown;
  /** Logical ids of the published versions (they follow the code). */
  readonly versions: readonly string[];
}

function edgeCodeOf(config: LimiterConfig): EdgeCode {
  const built = buildLimiterApp(config, { nag: false });
  const template = Template.fromStack(built.edge);
  const functionName = built.edge.viewerRequest.functionName;
  const functions = Object.values(resourcesOf(template, 'AWS::Lambda::Function')).filter(
    (f) => f.Properties.FunctionName === functionName,
  );
  expect(functions).toHaveLength(1);
  const code = functions[0]?.Properties.Code as { S3Key?: unknown };
  expect(code.S3Key).toBeDefined();
  return {
    s3Key: code.S3Key,
    versions: Object.keys(resourcesOf(template, 'AWS::Lambda::Version')).sort(),
  };
}

let base: LimiterConfig;
let baseCode: EdgeCode;

beforeAll(() => {
  base = baseConfig();
  baseCode = edgeCodeOf(base);
});

describe('the Lambda@Edge asset', () => {
  it('is the same when only an alarm threshold changes', () => {
    const changed: LimiterConfig = {
      ...base,
      alarms: { ...base.alarms, syncLagMs: 9000, depletionRatio: 0.3 },
    };
    expect(edgeCodeOf(changed)).toEqual(baseCode);
  });

  it('is the same when only the notification addresses change', () => {
    const changed: LimiterConfig = {
      ...base,
      notifications: {
        emails: ['pager@example.org', 'team@example.org'],
        httpsEndpoints: ['https://pager.example.org/hook'],
      },
    };
    expect(edgeCodeOf(changed)).toEqual(baseCode);
  });

  it('is the same when only what the regional functions read of a policy changes', () => {
    const changed: LimiterConfig = {
      ...base,
      policies: base.policies.map((p, i) =>
        i === 0 ? { ...p, watchKeys: ['carol'], apiAccess: { maxCostPerCall: 2 } } : p,
      ),
    };
    expect(edgeCodeOf(changed)).toEqual(baseCode);
  });

  it('changes, with a new version, when a policy capacity changes', () => {
    const changed: LimiterConfig = {
      ...base,
      policies: base.policies.map((p, i) =>
        i === 0 ? { ...p, capacityTokens: (p.capacityTokens ?? 0) + 1 } : p,
      ),
    };
    const code = edgeCodeOf(changed);
    expect(code.s3Key).not.toEqual(baseCode.s3Key);
    expect(code.versions).not.toEqual(baseCode.versions);
  });
});
