/**
 * The deployment synthesized from the shipped config with the RateLimit
 * headers of admitted responses on (once, shared by every test): the global table, each regional stack (functions, schedule, topic,
 * every alarm with its metric, threshold and actions, dashboard), the edge
 * stack (Lambda@Edge limits of every viewer trigger, origin header, outputs,
 * dashboard), the edge-watch stacks of the other regional-edge-cache regions,
 * pinned logical ids of the stateful resources, alarm names unique per
 * region, the placeholder guard, IAM scoping, cdk-nag, and the metric-name
 * contract.
 */
import { readFileSync } from 'node:fs';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LimiterConfig } from '../../functions/config/schema';
import { DIMENSION, METRIC, METRIC_NAMESPACE } from '../../functions/shared/metric-names';
import { STALE_DASHBOARD_SCHEMA_REGIONS } from '../../infra/constructs/cfn-lint-suppressions';
import {
  PLACEHOLDER_PARAMETER_ID,
  PLACEHOLDER_RULE_ID,
} from '../../infra/constructs/placeholder-guard';
import {
  EDGE_MEMORY_MB,
  EDGE_TIMEOUT_SECONDS,
  LAMBDA_EDGE_NODE_RUNTIMES,
  LAMBDA_EDGE_REGIONS,
} from '../../infra/defaults';
import { buildLimiterApp, type LimiterApp } from '../../infra/limiter-app';
import { appLikeCli, baseConfig } from './fixtures';
import {
  actionsOf,
  identityStatements,
  joined,
  logicalIdStartingWith,
  onlyResource,
  type Resource,
  resourcesOf,
  resourcesOfStatement,
  roleStatements,
} from './template-helpers';

let config: LimiterConfig;
let built: LimiterApp;
let table: Template;
let edge: Template;
const regional = new Map<string, Template>();
const edgeWatch = new Map<string, Template>();

beforeAll(() => {
  // Both Lambda@Edge functions (the viewer-response one is off by default), so every trigger is checked.
  config = { ...baseConfig(), clientHeaders: 'viewer-response' };
  built = buildLimiterApp(config, { app: appLikeCli(), nag: false });
  table = Template.fromStack(built.table);
  edge = Template.fromStack(built.edge);
  for (const [region, stack] of built.regional) regional.set(region, Template.fromStack(stack));
  for (const [region, stack] of built.edgeWatch) edgeWatch.set(region, Template.fromStack(stack));
});

/** Every template with its region. */
function allTemplates(): [string, Template][] {
  return [
    [built.table.region, table],
    [built.edge.region, edge],
    ...regional.entries(),
    ...edgeWatch.entries(),
  ];
}

const tableArn = (region: string, name = config.tableName) =>
  `arn:aws:dynamodb:${region}:${config.account}:table/${name}`;

function regionalTemplate(region: string): Template {
  const t = regional.get(region);
  if (t === undefined) throw new Error(`no regional stack for ${region}`);
  return t;
}

/** The parts of a distribution config the edge tests read. */
interface DistributionConfig {
  readonly DefaultCacheBehavior: {
    readonly CachePolicyId: string;
    readonly OriginRequestPolicyId: string;
    readonly AllowedMethods: string[];
    readonly ViewerProtocolPolicy: string;
    readonly LambdaFunctionAssociations: {
      readonly EventType: string;
      readonly IncludeBody?: boolean;
      readonly LambdaFunctionARN: { readonly Ref: string };
    }[];
  };
  readonly Origins: unknown[];
  readonly Logging?: unknown;
}

function alarmNamed(template: Template, name: string): Record<string, unknown> {
  const found = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm')).filter(
    (a) => a.Properties.AlarmName === name,
  );
  expect(found, `alarm ${name}`).toHaveLength(1);
  return (found[0] as Resource).Properties;
}

describe('stacks', () => {
  it('gives every stack an explicit account and region, regional stacks after the table', () => {
    expect(built.table.region).toBe(config.regions[0]);
    expect(built.edge.region).toBe('us-east-1');
    expect([...built.regional.keys()]).toEqual(config.regions);
    for (const stack of [built.table, built.edge, ...built.regional.values()]) {
      expect(stack.account).toBe(config.account);
    }
    for (const [region, stack] of built.regional) {
      expect(stack.region).toBe(region);
      expect(stack.dependencies).toContain(built.table);
    }
    expect(built.edge.dependencies).toContain(built.table);
    expect(built.strongTable).toBeUndefined();
  });
});

describe('global table', () => {
  it('is a retained, deletion-protected, on-demand global table keyed pk/sk', () => {
    const [, resource] = onlyResource(table, 'AWS::DynamoDB::GlobalTable');
    expect(resource.DeletionPolicy).toBe('Retain');
    expect(resource.UpdateReplacePolicy).toBe('Retain');
    table.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: config.tableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ]),
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      StreamSpecification: { StreamViewType: Match.anyValue() },
    });
  });

  it('has one replica per configured region, each with PITR and deletion protection', () => {
    const [, resource] = onlyResource(table, 'AWS::DynamoDB::GlobalTable');
    const replicas = resource.Properties.Replicas as Record<string, unknown>[];
    expect(replicas.map((r) => r.Region).sort()).toEqual([...config.regions].sort());
    for (const replica of replicas) {
      expect(replica.PointInTimeRecoverySpecification).toEqual({
        PointInTimeRecoveryEnabled: true,
      });
      expect(replica.DeletionProtectionEnabled).toBe(true);
    }
  });
});

describe.each(baseConfig().regions)('regional stack %s', (region) => {
  const others = () => config.regions.filter((r) => r !== region);
  const t = () => regionalTemplate(region);
  const fnId = (prefix: 'ApiFunction' | 'ReconcilerFunction') =>
    logicalIdStartingWith(t(), 'AWS::Lambda::Function', prefix);
  const topicRef = () => ({ Ref: logicalIdStartingWith(t(), 'AWS::SNS::Topic', 'AlarmsTopic') });

  it('runs both functions on arm64 from their bundles, with no environment', () => {
    const functions = Object.values(resourcesOf(t(), 'AWS::Lambda::Function'));
    expect(functions).toHaveLength(2);
    for (const fn of functions) {
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(String(fn.Properties.Runtime)).toMatch(/^nodejs\d+\.x$/);
      expect(fn.Properties.Environment).toBeUndefined();
      expect(fn.Properties.LoggingConfig).toEqual({ LogGroup: { Ref: expect.any(String) } });
    }
  });

  it('exposes the API through an IAM-authenticated function URL', () => {
    t().hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      TargetFunctionArn: { 'Fn::GetAtt': [fnId('ApiFunction'), 'Arn'] },
    });
  });

  it('runs the reconciler every minute through EventBridge Scheduler, without retries', () => {
    const [, schedule] = onlyResource(t(), 'AWS::Scheduler::Schedule');
    expect(schedule.Properties.ScheduleExpression).toBe('rate(1 minute)');
    expect(schedule.Properties.State).toBe('ENABLED');
    const target = schedule.Properties.Target as Record<string, unknown>;
    expect(target.Arn).toEqual({ 'Fn::GetAtt': [fnId('ReconcilerFunction'), 'Arn'] });
    expect(target.RetryPolicy).toMatchObject({ MaximumRetryAttempts: 0 });
    const roleId = (target.RoleArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] as string;
    const statements = roleStatements(t(), roleId);
    expect(statements.flatMap(actionsOf)).toEqual(['lambda:InvokeFunction']);
  });

  it('pages through an encrypted topic with the configured subscriptions', () => {
    t().hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: Match.anyValue(),
    });
    for (const email of config.notifications?.emails ?? []) {
      t().hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: email });
    }
    t().hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    t().hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': config.account } }),
          }),
        ]),
      },
    });
  });

  it('sends both the ALARM and the OK transition of every alarm to the topic', () => {
    const alarms = Object.values(resourcesOf(t(), 'AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([topicRef()]);
      expect(alarm.Properties.OKActions).toEqual([topicRef()]);
    }
  });

  it('alarms on sync lag to every other region, breaching when the metric is missing', () => {
    for (const other of others()) {
      const alarm = alarmNamed(t(), `${config.appName}-${region}-sync-lag-to-${other}`);
      expect(alarm).toMatchObject({
        Namespace: METRIC_NAMESPACE,
        MetricName: METRIC.SyncLagMs,
        Statistic: 'Maximum',
        Threshold: config.alarms?.syncLagMs,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'breaching',
      });
      expect(alarm.Dimensions).toEqual(
        expect.arrayContaining([
          { Name: DIMENSION.SourceRegion, Value: region },
          { Name: DIMENSION.ReceivingRegion, Value: other },
        ]),
      );
    }
  });

  it('alarms on stale heartbeats of every other region seen here', () => {
    for (const other of others()) {
      const alarm = alarmNamed(t(), `${config.appName}-${region}-heartbeat-stale-from-${other}`);
      expect(alarm).toMatchObject({
        Namespace: METRIC_NAMESPACE,
        MetricName: METRIC.HeartbeatAgeMs,
        ComparisonOperator: 'GreaterThanThreshold',
      });
      expect(alarm.Threshold).toBeGreaterThan(60_000 + (config.alarms?.syncLagMs ?? 0));
      expect(alarm.Dimensions).toEqual(
        expect.arrayContaining([
          { Name: DIMENSION.SourceRegion, Value: other },
          { Name: DIMENSION.ReceivingRegion, Value: region },
        ]),
      );
    }
  });

  it('alarms on DynamoDB ReplicationLatency to every other region', () => {
    for (const other of others()) {
      const alarm = alarmNamed(t(), `${config.appName}-${region}-replication-latency-to-${other}`);
      expect(alarm).toMatchObject({
        Namespace: 'AWS/DynamoDB',
        MetricName: 'ReplicationLatency',
        Threshold: config.alarms?.replicationLatencyMs,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(alarm.Dimensions).toEqual(
        expect.arrayContaining([
          { Name: 'TableName', Value: config.tableName },
          { Name: 'ReceivingRegion', Value: other },
        ]),
      );
    }
  });

  it('alarms on depletion of every watched bucket below the configured share', () => {
    const watched = config.policies.flatMap((p) => (p.watchKeys ?? []).map((key) => [p.id, key]));
    expect(watched.length).toBeGreaterThan(0);
    const depletion = Object.values(resourcesOf(t(), 'AWS::CloudWatch::Alarm')).filter(
      (a) => a.Properties.MetricName === METRIC.WatchedBucketLevelRatio,
    );
    expect(depletion).toHaveLength(watched.length);
    for (const [policy, key] of watched) {
      const alarm = depletion.find((a) =>
        (a.Properties.Dimensions as { Name: string; Value: string }[]).some(
          (d) => d.Name === DIMENSION.Key && d.Value === key,
        ),
      );
      expect(alarm?.Properties).toMatchObject({
        Namespace: METRIC_NAMESPACE,
        // The lowest level of the minute is the one that says callers are being refused.
        Statistic: 'Minimum',
        Threshold: config.alarms?.depletionRatio,
        ComparisonOperator: 'LessThanThreshold',
        Dimensions: expect.arrayContaining([{ Name: DIMENSION.Policy, Value: policy }]),
      });
    }
  });

  it('alarms on store errors and fallbacks from the aggregate (dimensionless) series', () => {
    const expected = [
      ['store-errors', METRIC.StoreErrors, config.alarms?.storeErrorsPerMinute],
      ['fallbacks', METRIC.Fallbacks, config.alarms?.fallbacksPerMinute],
    ] as const;
    for (const [suffix, metricName, threshold] of expected) {
      const alarm = alarmNamed(t(), `${config.appName}-${region}-${suffix}`);
      expect(alarm).toMatchObject({
        Namespace: METRIC_NAMESPACE,
        MetricName: metricName,
        Statistic: 'Sum',
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(alarm.Dimensions).toBeUndefined();
    }
  });

  it('alarms on DynamoDB throttle events of the table', () => {
    const alarm = alarmNamed(t(), `${config.appName}-${region}-store-throttles`);
    const metrics = alarm.Metrics as { MetricStat?: { Metric: Record<string, unknown> } }[];
    const names = metrics.flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric.MetricName] : []));
    expect(names.sort()).toEqual(['ReadThrottleEvents', 'WriteThrottleEvents']);
    for (const m of metrics) {
      if (m.MetricStat) {
        expect(m.MetricStat.Metric.Dimensions).toEqual([
          { Name: 'TableName', Value: config.tableName },
        ]);
      }
    }
  });

  it('alarms on errors and throttles of both functions, and on a stalled reconciler', () => {
    for (const [prefix, fn] of [
      ['api', 'ApiFunction'],
      ['reconciler', 'ReconcilerFunction'],
    ] as const) {
      for (const metricName of ['Errors', 'Throttles']) {
        const alarm = alarmNamed(
          t(),
          `${config.appName}-${region}-${prefix}-${metricName.toLowerCase()}`,
        );
        expect(alarm).toMatchObject({
          Namespace: 'AWS/Lambda',
          MetricName: metricName,
          Threshold: config.alarms?.functionErrorsPerMinute,
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId(fn) } }],
        });
      }
    }
    expect(alarmNamed(t(), `${config.appName}-${region}-reconciler-stalled`)).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Invocations',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId('ReconcilerFunction') } }],
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
    });
  });

  it('scopes the API to this region’s replica and the reconciler to every replica', () => {
    const apiRole = logicalIdStartingWith(t(), 'AWS::IAM::Role', 'ApiRole');
    const api = roleStatements(t(), apiRole).find((s) => s.Sid === 'BucketTables');
    expect(actionsOf(api!).sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect(resourcesOfStatement(api!)).toEqual([tableArn(region)]);

    const reconcilerRole = logicalIdStartingWith(t(), 'AWS::IAM::Role', 'ReconcilerRole');
    const statements = roleStatements(t(), reconcilerRole);
    const tables = statements.find((s) => s.Sid === 'BucketTables');
    expect(actionsOf(tables!).sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect((resourcesOfStatement(tables!) as string[]).sort()).toEqual(
      config.regions.map((r) => tableArn(r)).sort(),
    );
    const metrics = statements.find((s) => actionsOf(s).includes('cloudwatch:PutMetricData'));
    expect(metrics?.Condition).toEqual({
      StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE },
    });
  });

  it('has a dashboard with the limiter metrics and every alarm', () => {
    const [, dashboard] = onlyResource(t(), 'AWS::CloudWatch::Dashboard');
    expect(dashboard.Properties.DashboardName).toBe(`${config.appName}-${region}`);
    const body = joined(dashboard.Properties.DashboardBody);
    for (const name of [
      METRIC.Decisions,
      METRIC.RemainingRatio,
      METRIC.StoreLatency,
      METRIC.StoreErrors,
      METRIC.Fallbacks,
      METRIC.SyncLagMs,
      METRIC.WatchedBucketLevelRatio,
    ]) {
      expect(body).toContain(`"${METRIC_NAMESPACE}","${name}"`);
    }
    expect(body).toContain('"stat":"p99"');
    expect(body).toContain('"type":"alarm"');
    const alarmIds = Object.keys(resourcesOf(t(), 'AWS::CloudWatch::Alarm'));
    for (const id of alarmIds) expect(body).toContain(`<${id}.Arn>`);
  });
});

describe('edge stack', () => {
  const viewerRequestId = () =>
    logicalIdStartingWith(edge, 'AWS::Lambda::Function', 'ViewerRequestFunction');

  it('runs every viewer trigger within Lambda@Edge limits', () => {
    const [, distribution] = onlyResource(edge, 'AWS::CloudFront::Distribution');
    const associations = (distribution.Properties.DistributionConfig as DistributionConfig)
      .DefaultCacheBehavior.LambdaFunctionAssociations;
    expect(associations.map((a) => a.EventType).sort()).toEqual([
      'viewer-request',
      'viewer-response',
    ]);
    const versions = resourcesOf(edge, 'AWS::Lambda::Version');
    const functions = resourcesOf(edge, 'AWS::Lambda::Function');
    for (const association of associations) {
      const version = versions[association.LambdaFunctionARN.Ref];
      const fnId = (version?.Properties.FunctionName as { Ref: string } | undefined)?.Ref ?? '';
      const fn = functions[fnId]?.Properties;
      expect(fn, association.EventType).toBeDefined();
      expect(LAMBDA_EDGE_NODE_RUNTIMES).toContain(fn?.Runtime);
      expect(fn?.MemorySize).toBeLessThanOrEqual(EDGE_MEMORY_MB);
      expect(EDGE_MEMORY_MB).toBeLessThanOrEqual(128);
      expect(fn?.Timeout).toBeLessThanOrEqual(EDGE_TIMEOUT_SECONDS);
      expect(EDGE_TIMEOUT_SECONDS).toBeLessThanOrEqual(5);
      expect(fn?.Architectures).toEqual(['x86_64']);
      // Lambda features Lambda@Edge refuses.
      for (const absent of ['Environment', 'Layers', 'VpcConfig', 'DeadLetterConfig']) {
        expect(fn?.[absent], `${association.EventType} ${absent}`).toBeUndefined();
      }
      const storage = (fn?.EphemeralStorage as { Size?: number } | undefined)?.Size ?? 512;
      expect(storage).toBeLessThanOrEqual(512);
    }
  });

  it("logs both edge functions in JSON with Lambda's own records at WARN and the EMF lines (INFO) kept", () => {
    const functions = Object.values(resourcesOf(edge, 'AWS::Lambda::Function')).filter((f) =>
      String(f.Properties.FunctionName).match(/-viewer-(request|response)$/),
    );
    expect(functions).toHaveLength(2);
    for (const fn of functions) {
      expect(fn.Properties.LoggingConfig, String(fn.Properties.FunctionName)).toEqual({
        LogFormat: 'JSON',
        SystemLogLevel: 'WARN',
        ApplicationLogLevel: 'INFO',
      });
    }
    // The regional functions keep their logging as it was.
    for (const [, template] of regional) {
      for (const fn of Object.values(resourcesOf(template, 'AWS::Lambda::Function'))) {
        expect(
          (fn.Properties.LoggingConfig as { SystemLogLevel?: string } | undefined)?.SystemLogLevel,
        ).toBeUndefined();
      }
    }
  });

  it('sends the origin a secret header whose value is a Secrets Manager reference', () => {
    const [, distribution] = onlyResource(edge, 'AWS::CloudFront::Distribution');
    const origin = (distribution.Properties.DistributionConfig as DistributionConfig)
      .Origins[0] as {
      OriginCustomHeaders: { HeaderName: string; HeaderValue: unknown }[];
    };
    const [secretId, secret] = onlyResource(edge, 'AWS::SecretsManager::Secret');
    expect(origin.OriginCustomHeaders).toHaveLength(1);
    expect(origin.OriginCustomHeaders[0]?.HeaderName).toBe('x-origin-verify');
    expect(joined(origin.OriginCustomHeaders[0]?.HeaderValue)).toBe(
      `{{resolve:secretsmanager:<${secretId}>:SecretString:::}}`,
    );
    expect(secret.Properties.GenerateSecretString).toMatchObject({
      PasswordLength: 48,
      ExcludePunctuation: true,
    });
    expect(secret.Properties.SecretString).toBeUndefined();
    edge.hasOutput('OriginSecretArn', { Value: { Ref: secretId } });
  });

  it('publishes the same edge bundle whatever the deployment-only settings', () => {
    // A WAF rule, a custom domain or a rotated origin secret must not publish a new Lambda@Edge version.
    const deploymentOnly: LimiterConfig = {
      ...config,
      distribution: { waf: { requestsPerIp: 2000 } },
      originProtection: { secretVersionId: 'a1b2c3d4-0000-4000-8000-1234567890ab' },
      edgeMonitoring: { regions: ['eu-central-1'] },
      deployed: { regions: config.regions },
    };
    const other = buildLimiterApp(deploymentOnly, { nag: false });
    expect(other.edge.viewerRequest.bundleFile).toBe(built.edge.viewerRequest.bundleFile);
    const changedPolicy: LimiterConfig = {
      ...config,
      policies: config.policies.map((p, i) => (i === 0 ? { ...p, capacityTokens: 11 } : p)),
    };
    expect(buildLimiterApp(changedPolicy, { nag: false }).edge.viewerRequest.bundleFile).not.toBe(
      built.edge.viewerRequest.bundleFile,
    );
    expect(readFileSync(built.edge.viewerRequest.bundleFile, 'utf8')).toContain(config.tableName);
  });

  it('exports the published function versions for other distributions', () => {
    const versionIds = Object.keys(resourcesOf(edge, 'AWS::Lambda::Version'));
    const outputs = edge.findOutputs('ViewerRequestVersionArn');
    expect(Object.values(outputs)[0]).toMatchObject({
      Export: { Name: `${config.appName}-ViewerRequestVersionArn` },
      Value: { Ref: expect.stringMatching(new RegExp(`^(${versionIds.join('|')})$`)) },
    });
  });

  it('has a dashboard with the limiter and function metrics of every regional edge cache region', () => {
    const [, dashboard] = onlyResource(edge, 'AWS::CloudWatch::Dashboard');
    expect(dashboard.Properties.DashboardName).toBe(`${config.appName}-edge`);
    const body = JSON.parse(joined(dashboard.Properties.DashboardBody)) as {
      widgets: { properties: { metrics?: unknown[][] } }[];
    };
    const metrics = body.widgets.flatMap((w) => w.properties.metrics ?? []);
    const regionsOf = (namespace: string, name: string) =>
      new Set(
        metrics
          .filter((m) => m[0] === namespace && m[1] === name)
          .map((m) => (m.at(-1) as { region?: string }).region),
      );
    for (const [namespace, name] of [
      [METRIC_NAMESPACE, METRIC.Fallbacks],
      [METRIC_NAMESPACE, METRIC.StoreErrors],
      ['AWS/Lambda', 'Errors'],
      ['AWS/Lambda', 'Throttles'],
    ] as const) {
      expect([...regionsOf(namespace, name)].sort(), `${namespace} ${name}`).toEqual(
        [...LAMBDA_EDGE_REGIONS].sort(),
      );
    }
    expect(JSON.stringify(body)).toContain(`"us-east-1.${config.appName}-viewer-request"`);
  });

  it('associates the function with viewer requests of an uncached distribution in front of the origin', () => {
    const [, distribution] = onlyResource(edge, 'AWS::CloudFront::Distribution');
    const dc = distribution.Properties.DistributionConfig as DistributionConfig;
    const behavior = dc.DefaultCacheBehavior;
    expect(behavior.CachePolicyId).toBe(cloudfront.CachePolicy.CACHING_DISABLED.cachePolicyId);
    expect(behavior.OriginRequestPolicyId).toBe(
      cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.originRequestPolicyId,
    );
    expect(behavior.AllowedMethods).toHaveLength(7);
    expect(behavior.ViewerProtocolPolicy).toBe('https-only');
    const associations = behavior.LambdaFunctionAssociations;
    const viewerRequest = associations.find((a) => a.EventType === 'viewer-request');
    expect(viewerRequest?.IncludeBody).toBe(false);
    const versionId = viewerRequest?.LambdaFunctionARN.Ref as string;
    edge.hasResource('AWS::Lambda::Version', {
      Properties: { FunctionName: { Ref: viewerRequestId() } },
    });
    expect(resourcesOf(edge, 'AWS::Lambda::Version')[versionId]?.Properties.FunctionName).toEqual({
      Ref: viewerRequestId(),
    });
    // This config's clientHeaders: 'viewer-response' (the default 'none': deployment-options.test.ts).
    expect(associations.some((a) => a.EventType === 'viewer-response')).toBe(true);
    expect(dc.Origins).toEqual([
      expect.objectContaining({
        DomainName: config.origin.domainName,
        CustomOriginConfig: expect.objectContaining({ OriginProtocolPolicy: 'https-only' }),
      }),
    ]);
    expect(dc.Logging).toMatchObject({ Bucket: expect.anything() });
  });

  it('lets the edge function reach the table in every region and write its logs anywhere', () => {
    const roleId = logicalIdStartingWith(edge, 'AWS::IAM::Role', 'ViewerRequestRole');
    const statements = roleStatements(edge, roleId);
    const tables = statements.find((s) => s.Sid === 'BucketTables');
    expect(actionsOf(tables!).sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    expect((resourcesOfStatement(tables!) as string[]).sort()).toEqual(
      config.regions.map((r) => tableArn(r)).sort(),
    );
    const logs = statements.find((s) => s.Sid === 'EdgeLogsInEveryRegion');
    const functionName = resourcesOf(edge, 'AWS::Lambda::Function')[viewerRequestId()]?.Properties
      .FunctionName;
    expect(functionName).toBe(`${config.appName}-viewer-request`);
    expect(joined(resourcesOfStatement(logs!)[0])).toBe(
      `arn:aws:logs:*:${config.account}:log-group:/aws/lambda/us-east-1.${functionName}:*`,
    );
    const trust = resourcesOf(edge, 'AWS::IAM::Role')[roleId]?.Properties
      .AssumeRolePolicyDocument as { Statement: { Principal: { Service: string | string[] } }[] };
    expect(trust.Statement.flatMap((s) => s.Principal.Service).sort()).toEqual([
      'edgelambda.amazonaws.com',
      'lambda.amazonaws.com',
    ]);
  });

  it('pages on the CloudFront 5xx error rate', () => {
    const [id] = onlyResource(edge, 'AWS::CloudFront::Distribution');
    const alarm = alarmNamed(edge, `${config.appName}-edge-5xx-error-rate`);
    expect(alarm).toMatchObject({
      Namespace: 'AWS/CloudFront',
      MetricName: '5xxErrorRate',
      Dimensions: expect.arrayContaining([
        { Name: 'DistributionId', Value: { Ref: id } },
        { Name: 'Region', Value: 'Global' },
      ]),
    });
    const topic = { Ref: logicalIdStartingWith(edge, 'AWS::SNS::Topic', 'AlarmsTopic') };
    expect(alarm.AlarmActions).toEqual([topic]);
    expect(alarm.OKActions).toEqual([topic]);
  });
});

describe('IAM', () => {
  it('grants named actions only, on named resources, except metric publishing by namespace', () => {
    const templates = allTemplates().map(([, t]) => t);
    const statements = templates.flatMap(identityStatements);
    expect(statements.length).toBeGreaterThan(0);
    for (const s of statements) {
      for (const action of actionsOf(s)) expect(action).not.toContain('*');
      const resources = resourcesOfStatement(s);
      expect(resources.length).toBeGreaterThan(0);
      if (resources.includes('*')) {
        expect(actionsOf(s)).toEqual(['cloudwatch:PutMetricData']);
        expect(s.Condition?.StringEquals?.['cloudwatch:namespace']).toBe(METRIC_NAMESPACE);
      }
    }
  });
});

describe('cdk-nag', () => {
  it('finds nothing unacknowledged (AwsSolutions)', () => {
    const report = new AwsSolutionsChecks().validateScope(built.app);
    const findings = report.violations.map(
      (v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(findings).toEqual([]);
  });

  it('leaves no error annotations on any stack', () => {
    for (const stack of built.stacks) {
      expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
    }
  });
});

describe('metric-name contract', () => {
  it('alarms only on names exported by functions/shared/metric-names.ts', () => {
    const known = new Set<string>(Object.values(METRIC));
    const used = new Set<string>();
    for (const [, t] of allTemplates()) {
      for (const alarm of Object.values(resourcesOf(t, 'AWS::CloudWatch::Alarm'))) {
        if (alarm.Properties.Namespace === METRIC_NAMESPACE) {
          used.add(alarm.Properties.MetricName as string);
        }
      }
    }
    for (const name of used) expect(known).toContain(name);
    expect([...used].sort()).toEqual(
      [
        METRIC.SyncLagMs,
        METRIC.HeartbeatAgeMs,
        METRIC.WatchedBucketLevelRatio,
        METRIC.StoreErrors,
        METRIC.Fallbacks,
      ].sort(),
    );
  });
});

describe('edge alarms in every region with a regional edge cache', () => {
  const edgeFunction = () => `us-east-1.${config.appName}-viewer-request`;
  const tableRegions = () => config.regions.filter((r) => LAMBDA_EDGE_REGIONS.includes(r));

  it('has an edge-watch stack in each such region without a regional stack', () => {
    expect([...built.edgeWatch.keys()].sort()).toEqual(
      LAMBDA_EDGE_REGIONS.filter((r) => !config.regions.includes(r)).sort(),
    );
    for (const [region, stack] of built.edgeWatch) {
      expect(stack.region).toBe(region);
      expect(stack.stackName).toBe(`${config.appName}-EdgeWatch-${region}`);
    }
  });

  it.each(LAMBDA_EDGE_REGIONS.filter((r) => !baseConfig().regions.includes(r)))(
    'pages on fallbacks, store errors and edge function errors in %s',
    (region) => {
      const t = edgeWatch.get(region)!;
      const topic = { Ref: logicalIdStartingWith(t, 'AWS::SNS::Topic', 'AlarmsTopic') };
      for (const [suffix, metricName] of [
        ['fallbacks', METRIC.Fallbacks],
        ['store-errors', METRIC.StoreErrors],
      ] as const) {
        const alarm = alarmNamed(t, `${config.appName}-edge-${region}-${suffix}`);
        expect(alarm).toMatchObject({
          Namespace: METRIC_NAMESPACE,
          MetricName: metricName,
          Statistic: 'Sum',
          TreatMissingData: 'notBreaching',
          AlarmActions: [topic],
          OKActions: [topic],
        });
        expect(alarm.Dimensions).toBeUndefined();
      }
      for (const metricName of ['Errors', 'Throttles']) {
        const alarm = alarmNamed(
          t,
          `${config.appName}-edge-${region}-viewer-request-${metricName.toLowerCase()}`,
        );
        expect(alarm).toMatchObject({
          Namespace: 'AWS/Lambda',
          MetricName: metricName,
          Dimensions: [{ Name: 'FunctionName', Value: edgeFunction() }],
          AlarmActions: [topic],
        });
      }
      t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    },
  );

  it('adds the edge function alarms to the regional stacks of table regions with an edge cache', () => {
    expect(tableRegions().length).toBeGreaterThan(0);
    for (const region of tableRegions()) {
      const alarm = alarmNamed(
        regionalTemplate(region),
        `${config.appName}-${region}-edge-viewer-request-errors`,
      );
      expect(alarm).toMatchObject({
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: edgeFunction() }],
      });
    }
  });
});

describe('pinned logical ids of stateful resources', () => {
  // A changed logical id makes CloudFormation create a replacement: a second
  // table under the same name (which fails), a new KMS key and topic, a new
  // origin secret value (which locks CloudFront out of the origin).
  it('keeps the table, the KMS keys, the origin secret and the log bucket', () => {
    expect(Object.keys(resourcesOf(table, 'AWS::DynamoDB::GlobalTable'))).toEqual([
      'BucketsF2AD3CC3',
    ]);
    for (const [region, t] of allTemplates()) {
      if (t === table) continue;
      expect(Object.keys(resourcesOf(t, 'AWS::KMS::Key')), region).toEqual(['AlarmsKey3C2381B3']);
    }
    expect(Object.keys(resourcesOf(edge, 'AWS::SecretsManager::Secret'))).toEqual([
      'OriginSecret5DDC59F1',
    ]);
    expect(Object.keys(resourcesOf(edge, 'AWS::S3::Bucket'))).toEqual(['AccessLogs8B620ECA']);
  });

  it('schedules the alarm keys for deletion with the stack and retains the table', () => {
    const [, tableResource] = onlyResource(table, 'AWS::DynamoDB::GlobalTable');
    expect(tableResource.DeletionPolicy).toBe('Retain');
    for (const [, t] of allTemplates()) {
      for (const key of Object.values(resourcesOf(t, 'AWS::KMS::Key'))) {
        expect(key.DeletionPolicy).toBe('Delete');
        expect(key.Properties.PendingWindowInDays).toBe(30);
      }
    }
  });
});

describe('alarm names', () => {
  it('are unique per region across every stack of the app', () => {
    const seen = new Map<string, string>();
    for (const [region, t] of allTemplates()) {
      for (const alarm of Object.values(resourcesOf(t, 'AWS::CloudWatch::Alarm'))) {
        const key = `${region} ${String(alarm.Properties.AlarmName)}`;
        expect(seen.has(key), key).toBe(false);
        seen.set(key, region);
      }
    }
    expect(seen.size).toBeGreaterThan(50);
  });
});

describe('placeholder guard', () => {
  it('refuses a deploy of the shipped example values in every stack, naming each', () => {
    for (const [region, t] of allTemplates()) {
      const json = t.toJSON() as {
        Parameters: Record<string, { Default: string }>;
        Rules: Record<string, { Assertions: { Assert: unknown; AssertDescription: string }[] }>;
      };
      const listed = json.Parameters[PLACEHOLDER_PARAMETER_ID]?.Default;
      expect(listed, region).toContain('notifications.emails[0] (oncall@example.com)');
      expect(listed).toContain('origin.domainName (api.example.com)');
      const [assertion] = json.Rules[PLACEHOLDER_RULE_ID]?.Assertions ?? [];
      expect(assertion?.Assert).toEqual({
        'Fn::Equals': [{ Ref: PLACEHOLDER_PARAMETER_ID }, ''],
      });
      expect(assertion?.AssertDescription).toContain(listed);
    }
  });

  it('warns once at synth', () => {
    const warnings = built.stacks.flatMap((s) =>
      Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('example values')),
    );
    expect(warnings).toHaveLength(1);
  });
});

describe('cfn-lint suppressions', () => {
  it('suppress the stale Dashboard Tags schema only where cfn-lint 1.51.0 is stale', () => {
    for (const [region, t] of allTemplates()) {
      for (const dashboard of Object.values(
        t.findResources('AWS::CloudWatch::Dashboard') as Record<
          string,
          { Metadata?: Record<string, unknown> }
        >,
      )) {
        const ignored =
          (dashboard.Metadata?.['cfn-lint'] as { config: { ignore_checks: string[] } } | undefined)
            ?.config.ignore_checks ?? [];
        expect(ignored.includes('E3002'), region).toBe(
          STALE_DASHBOARD_SCHEMA_REGIONS.includes(region),
        );
      }
    }
  });
});
