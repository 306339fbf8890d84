/**
 * cfn-lint findings the templates accept, each suppressed on the one resource
 * it concerns, by rule id, with its reason next to it (in the resource's
 * metadata too, so a template reviewer sees why). `.ci/run` lints every
 * synthesized template (`npm run lint:templates`); anything not listed here
 * fails it.
 */

import { CfnResource, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** One accepted finding. */
export interface CfnLintSuppression {
  /** cfn-lint rule id, e.g. `W3005`. */
  readonly id: string;
  readonly reason: string;
}

/** Metadata key holding the reasons of a resource's suppressions. */
export const SUPPRESSION_REASONS_KEY = 'limiter:cfn-lint-suppressions';

/**
 * `W3005` on every Lambda function with an explicit role: `lambda.Function`
 * adds a DependsOn on the role (and on its default policy, which the function
 * needs before its first invocation), beside the `Role` GetAtt.
 */
export const LAMBDA_ROLE_DEPENDENCY: CfnLintSuppression = {
  id: 'W3005',
  reason:
    'CDK lambda.Function adds DependsOn on its role and the role policy; the role part repeats the GetAtt, which is harmless, and the policy part is needed.',
};

/**
 * Regions whose `AWS::CloudWatch::Dashboard` schema in cfn-lint 1.51.0 lacks
 * the `Tags` property, which CloudFormation documents (Tags: list of Tag, up
 * to 50) and which cfn-lint's own schema for the 34 other regions has. A
 * dashboard is a global resource, so its properties cannot differ by region:
 * the snapshot for these regions is stale.
 */
export const STALE_DASHBOARD_SCHEMA_REGIONS: readonly string[] = [
  'us-east-1',
  'me-central-1',
  'me-south-1',
  'cn-northwest-1',
];

/** `E3002` on a dashboard's `Tags` in a region of {@link STALE_DASHBOARD_SCHEMA_REGIONS}. */
export const STALE_DASHBOARD_TAGS: CfnLintSuppression = {
  id: 'E3002',
  reason:
    'Stale schema: cfn-lint 1.51.0 lacks Dashboard Tags in this region only; CloudFormation documents Tags for AWS::CloudWatch::Dashboard, a global resource.',
};

/** Suppresses findings on the CloudFormation resource of a construct (or the resource itself). */
export function suppressCfnLint(
  construct: IConstruct,
  ...suppressions: readonly CfnLintSuppression[]
): void {
  const resource =
    construct instanceof CfnResource ? construct : (construct.node.defaultChild as CfnResource);
  if (!(resource instanceof CfnResource)) {
    throw new TypeError(`${construct.node.path} has no CloudFormation resource to annotate`);
  }
  const config = (resource.getMetadata('cfn-lint') ?? { config: {} }) as {
    config: { ignore_checks?: string[] };
  };
  const ids = new Set([...(config.config.ignore_checks ?? []), ...suppressions.map((s) => s.id)]);
  resource.addMetadata('cfn-lint', { config: { ...config.config, ignore_checks: [...ids] } });
  const reasons = (resource.getMetadata(SUPPRESSION_REASONS_KEY) ?? {}) as Record<string, string>;
  resource.addMetadata(SUPPRESSION_REASONS_KEY, {
    ...reasons,
    ...Object.fromEntries(suppressions.map((s) => [s.id, s.reason])),
  });
}

/** Suppresses the stale-schema `E3002` on a dashboard, only where cfn-lint's schema is stale. */
export function suppressStaleDashboardSchema(dashboard: IConstruct): void {
  if (STALE_DASHBOARD_SCHEMA_REGIONS.includes(Stack.of(dashboard).region)) {
    suppressCfnLint(dashboard, STALE_DASHBOARD_TAGS);
  }
}
