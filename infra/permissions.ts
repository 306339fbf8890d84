/**
 * The IAM statements of the functions, least privilege: named actions only
 * (never a wildcard action), on table ARNs built from the config, and metric
 * publishing restricted to the project's namespace.
 */

import * as iam from 'aws-cdk-lib/aws-iam';
import type { LimiterConfig } from '../functions/config/schema';
import { METRIC_NAMESPACE } from '../functions/shared/metric-names';
import { type TableScope, tableArns } from './defaults';

/** The hot path (edge and regional API): read the view, write the own slot. */
export const DECISION_TABLE_ACTIONS = [
  'dynamodb:Query',
  'dynamodb:GetItem',
  'dynamodb:UpdateItem',
] as const;

/** The reconciler: the hot path's reads plus writing heartbeat and status items. */
export const RECONCILER_TABLE_ACTIONS = [
  'dynamodb:Query',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
] as const;

/** Table access for a function. */
export function tableStatement(
  config: LimiterConfig,
  actions: readonly string[],
  scope: TableScope,
): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'BucketTables',
    actions: [...actions],
    resources: tableArns(config, scope),
  });
}

/**
 * `cloudwatch:PutMetricData` has no resource-level permissions, so the
 * resource is `*` and the `cloudwatch:namespace` condition does the scoping.
 */
export function putMetricDataStatement(): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'PublishLimiterMetrics',
    actions: ['cloudwatch:PutMetricData'],
    resources: ['*'],
    conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
  });
}
