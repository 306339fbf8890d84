/**
 * The production options of the config, each synthesized: a custom domain
 * with its certificate and TLS policy, the WAF flood floor, an existing
 * distribution (no distribution created, versions exported), origin access
 * control for Lambda function URL and S3 origins, callers and reserved
 * concurrency of the regional API, a retiring region, watched keys whose
 * names slug alike, and client headers on or off. cdk-nag runs on every
 * variant.
 */
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import type { LimiterConfig } from '../../functions/config/schema';
import { METRIC } from '../../functions/shared/metric-names';
import { LAMBDA_EDGE_REGIONS } from '../../infra/defaults';
import { buildLimiterApp, type LimiterApp } from '../../infra/limiter-app';
import { appLikeCli, baseConfig } from './fixtures';
import {
  logicalIdStartingWith,
  onlyResource,
  type Resource,
  resourcesOf,
  resourcesOfStatement,
  roleStatements,
} from './template-helpers';

const CERTIFICATE =
  'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const FUNCTION_URL_HOST = 'abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws';

function build(patch: Partial<LimiterConfig>): LimiterApp {
  return buildLimiterApp({ ...baseConfig(), ...patch }, { app: appLikeCli(), nag: false });
}

function nagFindings(built: LimiterApp): string[] {
  return new AwsSolutionsChecks()
    .validateScope(built.app)
    .violations.map(
      (v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
}

interface DistributionConfig {
  readonly Aliases?: string[];
  readonly ViewerCertificate?: Record<string, unknown>;
  readonly WebACLId?: unknown;
  readonly Origins: Record<string, unknown>[];
}

function distributionConfig(template: Template): DistributionConfig {
  const [, distribution] = onlyResource(template, 'AWS::CloudFront::Distribution');
  return distribution.Properties.DistributionConfig as DistributionConfig;
}

describe('custom domain and WAF flood floor', () => {
  const built = build({
    distribution: {
      domainNames: ['api.acme-corp.net'],
      certificateArn: CERTIFICATE,
      waf: { requestsPerIp: 1500, windowSeconds: 60 },
    },
  });
  const edge = Template.fromStack(built.edge);

  it('serves the domain names on the ACM certificate with a TLS 1.2 (2021) policy over SNI', () => {
    const dc = distributionConfig(edge);
    expect(dc.Aliases).toEqual(['api.acme-corp.net']);
    expect(dc.ViewerCertificate).toEqual({
      AcmCertificateArn: CERTIFICATE,
      MinimumProtocolVersion: 'TLSv1.2_2021',
      SslSupportMethod: 'sni-only',
    });
  });

  it('puts a rate-based rule per client IP in front of the limiter', () => {
    const [aclId, acl] = onlyResource(edge, 'AWS::WAFv2::WebACL');
    expect(acl.Properties).toMatchObject({
      Scope: 'CLOUDFRONT',
      DefaultAction: { Allow: {} },
      Rules: [
        {
          Priority: 0,
          Action: { Block: {} },
          Statement: {
            RateBasedStatement: { Limit: 1500, AggregateKeyType: 'IP', EvaluationWindowSec: 60 },
          },
        },
      ],
    });
    expect(distributionConfig(edge).WebACLId).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
  });

  it('counts instead of blocking in count mode, over 5 minutes by default', () => {
    const counting = Template.fromStack(
      build({ distribution: { waf: { requestsPerIp: 100, mode: 'count' } } }).edge,
    );
    const [, acl] = onlyResource(counting, 'AWS::WAFv2::WebACL');
    const rule = (acl.Properties.Rules as Record<string, unknown>[])[0];
    expect(rule).toMatchObject({
      Action: { Count: {} },
      Statement: { RateBasedStatement: { EvaluationWindowSec: 300 } },
    });
  });

  it('passes cdk-nag without the geo/WAF/TLS acknowledgements it no longer needs', () => {
    expect(nagFindings(built)).toEqual([]);
  });
});

describe('an existing distribution', () => {
  const built = build({ distribution: { existingDistributionId: 'E2ABCDEF123456' } });
  const edge = Template.fromStack(built.edge);

  it('creates no distribution and no log bucket, and exports the function versions', () => {
    expect(resourcesOf(edge, 'AWS::CloudFront::Distribution')).toEqual({});
    expect(resourcesOf(edge, 'AWS::S3::Bucket')).toEqual({});
    const versions = Object.keys(resourcesOf(edge, 'AWS::Lambda::Version'));
    expect(versions.length).toBeGreaterThan(0);
    const exported = Object.values(edge.findOutputs('*'))
      .map((o) => (o as { Export?: { Name: string } }).Export?.Name)
      .filter((n) => n !== undefined);
    expect(exported).toContain('EdgeRateLimiter-ViewerRequestVersionArn');
  });

  it('alarms on the 5xx rate of that distribution and keeps the origin secret', () => {
    const alarm = Object.values(resourcesOf(edge, 'AWS::CloudWatch::Alarm')).find(
      (a) => a.Properties.MetricName === '5xxErrorRate',
    );
    expect(alarm?.Properties.Dimensions).toEqual(
      expect.arrayContaining([{ Name: 'DistributionId', Value: 'E2ABCDEF123456' }]),
    );
    edge.resourceCountIs('AWS::SecretsManager::Secret', 1);
  });

  it('passes cdk-nag', () => {
    expect(nagFindings(built)).toEqual([]);
  });
});

describe('origin access control', () => {
  it('signs requests to a Lambda function URL origin, without the secret header', () => {
    const built = build({ origin: { domainName: FUNCTION_URL_HOST, kind: 'lambda-function-url' } });
    const edge = Template.fromStack(built.edge);
    const [oacId, oac] = onlyResource(edge, 'AWS::CloudFront::OriginAccessControl');
    expect(oac.Properties.OriginAccessControlConfig).toMatchObject({
      OriginAccessControlOriginType: 'lambda',
      SigningBehavior: 'always',
      SigningProtocol: 'sigv4',
    });
    const [origin] = distributionConfig(edge).Origins;
    expect(origin).toMatchObject({
      DomainName: FUNCTION_URL_HOST,
      OriginAccessControlId: { 'Fn::GetAtt': [oacId, 'Id'] },
    });
    expect(origin?.OriginCustomHeaders).toBeUndefined();
    expect(resourcesOf(edge, 'AWS::SecretsManager::Secret')).toEqual({});
    expect(nagFindings(built)).toEqual([]);
  });

  it('reads an S3 origin through origin access control', () => {
    const built = build({
      origin: { domainName: 'static-assets.s3.eu-west-1.amazonaws.com', kind: 's3' },
    });
    const edge = Template.fromStack(built.edge);
    const [oacId, oac] = onlyResource(edge, 'AWS::CloudFront::OriginAccessControl');
    expect(oac.Properties.OriginAccessControlConfig).toMatchObject({
      OriginAccessControlOriginType: 's3',
    });
    const [origin] = distributionConfig(edge).Origins;
    expect(origin).toMatchObject({
      DomainName: 'static-assets.s3.eu-west-1.amazonaws.com',
      S3OriginConfig: { OriginAccessIdentity: '' },
      OriginAccessControlId: { 'Fn::GetAtt': [oacId, 'Id'] },
    });
  });

  it('keeps the secret header on an http origin with an existing secret and a pinned version', () => {
    const edge = Template.fromStack(
      build({
        originProtection: {
          headerName: 'x-cdn-auth',
          secretId: 'limiter/origin',
          secretVersionId: 'a1b2c3d4-0000-4000-8000-1234567890ab',
        },
      }).edge,
    );
    expect(resourcesOf(edge, 'AWS::SecretsManager::Secret')).toEqual({});
    const [origin] = distributionConfig(edge).Origins;
    const headers = origin?.OriginCustomHeaders as { HeaderName: string; HeaderValue: unknown }[];
    expect(headers[0]?.HeaderName).toBe('x-cdn-auth');
    expect(JSON.stringify(headers[0]?.HeaderValue)).toMatch(
      /\{\{resolve:secretsmanager:arn:.*:secret:limiter\/origin:SecretString:::a1b2c3d4-0000-4000-8000-1234567890ab\}\}/,
    );
  });
});

describe('regional API callers and reserved concurrency', () => {
  const caller = 'arn:aws:iam::210987654321:role/billing';
  const built = build({
    regionalApi: { callers: [caller, '345678901234'], reservedConcurrency: 50 },
  });
  const t = Template.fromStack(built.regional.get('eu-west-1')!);
  const apiId = logicalIdStartingWith(t, 'AWS::Lambda::Function', 'ApiFunction');

  it('grants each caller both function URL actions, InvokeFunction only through the URL', () => {
    const permissions = Object.values(resourcesOf(t, 'AWS::Lambda::Permission')).map(
      (p) => p.Properties,
    );
    for (const principal of [caller, '345678901234']) {
      const own = permissions.filter((p) => p.Principal === principal);
      expect(own).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Action: 'lambda:InvokeFunctionUrl',
            FunctionUrlAuthType: 'AWS_IAM',
            FunctionName: { 'Fn::GetAtt': [apiId, 'Arn'] },
          }),
          expect.objectContaining({ Action: 'lambda:InvokeFunction', InvokedViaFunctionUrl: true }),
        ]),
      );
      expect(own).toHaveLength(2);
    }
  });

  it('reserves the configured concurrency for the API only', () => {
    const functions = resourcesOf(t, 'AWS::Lambda::Function');
    expect(functions[apiId]?.Properties.ReservedConcurrentExecutions).toBe(50);
    const reconciler = logicalIdStartingWith(t, 'AWS::Lambda::Function', 'ReconcilerFunction');
    expect(functions[reconciler]?.Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('lets another app grant its own role the same two actions', () => {
    const app = build({});
    const role = new iam.Role(app.regional.get('eu-west-1')!, 'Caller', {
      assumedBy: new iam.AccountRootPrincipal(),
    });
    app.regional.get('eu-west-1')!.grantApiInvoke(role);
    const template = Template.fromStack(app.regional.get('eu-west-1')!);
    const roleId = logicalIdStartingWith(template, 'AWS::IAM::Role', 'Caller');
    const statements = roleStatements(template, roleId);
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Action: 'lambda:InvokeFunctionUrl',
          Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
        }),
        expect.objectContaining({
          Action: 'lambda:InvokeFunction',
          Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': true } },
        }),
      ]),
    );
  });
});

describe('a retiring region', () => {
  const base = baseConfig();
  const built = build({
    retiringRegions: ['ap-southeast-1'],
    deployed: { regions: base.regions },
  });
  const table = Template.fromStack(built.table);

  it('keeps its replica with deletion protection off, and only its', () => {
    const [, resource] = onlyResource(table, 'AWS::DynamoDB::GlobalTable');
    const replicas = resource.Properties.Replicas as {
      Region: string;
      DeletionProtectionEnabled: boolean;
    }[];
    expect(
      Object.fromEntries(replicas.map((r) => [r.Region, r.DeletionProtectionEnabled])),
    ).toEqual({ 'us-east-1': true, 'eu-west-1': true, 'ap-southeast-1': false });
  });

  it('has no regional stack, and no function reaches its replica any more', () => {
    expect([...built.regional.keys()]).toEqual(['us-east-1', 'eu-west-1']);
    const edge = Template.fromStack(built.edge);
    const role = logicalIdStartingWith(edge, 'AWS::IAM::Role', 'ViewerRequestRole');
    const tables = roleStatements(edge, role).find((s) => s.Sid === 'BucketTables');
    expect(JSON.stringify(resourcesOfStatement(tables!))).not.toContain('ap-southeast-1');
    const eu = Template.fromStack(built.regional.get('eu-west-1')!);
    const names = Object.values(resourcesOf(eu, 'AWS::CloudWatch::Alarm')).map((a) =>
      String(a.Properties.AlarmName),
    );
    expect(names.some((n) => n.includes('ap-southeast-1'))).toBe(false);
  });

  it('keeps its edge alarms in an edge-watch stack (its edge cache still runs the limiter)', () => {
    const watch = built.edgeWatch.get('ap-southeast-1');
    expect(watch).toBeDefined();
    const alarms = Object.values(resourcesOf(Template.fromStack(watch!), 'AWS::CloudWatch::Alarm'));
    expect(alarms.map((a) => a.Properties.MetricName)).toEqual(
      expect.arrayContaining([METRIC.Fallbacks, 'Errors']),
    );
  });
});

describe('watched keys whose names slug alike', () => {
  const keys = ['tenant.a', 'tenant-a', 'TenantA'];
  const base = baseConfig();
  const built = build({
    policies: base.policies.map((p) => (p.id === 'global-cap' ? { ...p, watchKeys: keys } : p)),
  });

  it('get one depletion alarm each, with distinct names and logical ids that follow the key', () => {
    const t = Template.fromStack(built.regional.get('eu-west-1')!);
    const depletion = Object.entries(resourcesOf(t, 'AWS::CloudWatch::Alarm')).filter(
      ([, a]) => a.Properties.MetricName === METRIC.WatchedBucketLevelRatio,
    );
    const names = depletion.map(([, a]) => String(a.Properties.AlarmName));
    expect(new Set(names).size).toBe(keys.length);
    for (const name of names)
      expect(name).toMatch(/^EdgeRateLimiter-eu-west-1-depletion-global-cap-/);
    const reordered = build({
      policies: base.policies.map((p) =>
        p.id === 'global-cap' ? { ...p, watchKeys: [...keys].reverse() } : p,
      ),
    });
    const again = Object.entries(
      resourcesOf(
        Template.fromStack(reordered.regional.get('eu-west-1')!),
        'AWS::CloudWatch::Alarm',
      ),
    )
      .filter(([, a]) => a.Properties.MetricName === METRIC.WatchedBucketLevelRatio)
      .map(([id, a]): [string, unknown] => [id, a.Properties.AlarmName]);
    expect(new Map(again)).toEqual(
      new Map(depletion.map(([id, a]: [string, Resource]) => [id, a.Properties.AlarmName])),
    );
  });

  it('leave no error annotation', () => {
    for (const stack of built.stacks) {
      expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
    }
  });
});

describe('edge system log level', () => {
  /** The system log level of each Lambda@Edge function, by name. */
  function systemLogLevels(built: LimiterApp): Record<string, unknown> {
    return Object.fromEntries(
      Object.values(resourcesOf(Template.fromStack(built.edge), 'AWS::Lambda::Function'))
        .filter((f) => String(f.Properties.FunctionName).includes('-viewer-'))
        .map((f) => [
          String(f.Properties.FunctionName),
          (f.Properties.LoggingConfig as { SystemLogLevel?: string }).SystemLogLevel,
        ]),
    );
  }
  const warn = build({ clientHeaders: 'viewer-response' });
  const info = build({ clientHeaders: 'viewer-response', edgeSystemLogLevel: 'INFO' });

  it('is WARN by default and follows the config on both functions, with the same bundles', () => {
    expect(systemLogLevels(warn)).toEqual({
      'EdgeRateLimiter-viewer-request': 'WARN',
      'EdgeRateLimiter-viewer-response': 'WARN',
    });
    expect(systemLogLevels(info)).toEqual({
      'EdgeRateLimiter-viewer-request': 'INFO',
      'EdgeRateLimiter-viewer-response': 'INFO',
    });
    expect(systemLogLevels(build({ edgeSystemLogLevel: 'DEBUG' }))).toEqual({
      'EdgeRateLimiter-viewer-request': 'DEBUG',
    });
    // A deployment-only setting: in no bundle.
    expect(info.edge.viewerRequest.bundleFile).toBe(warn.edge.viewerRequest.bundleFile);
    expect(info.edge.viewerResponse?.bundleFile).toBe(warn.edge.viewerResponse?.bundleFile);
  });
});

describe('client headers', () => {
  /** Where the viewer-response function shows in a deployment. */
  function viewerResponseIn(built: LimiterApp) {
    const templates = built.stacks.map((s) => Template.fromStack(s));
    const edge = Template.fromStack(built.edge);
    const [, distribution] = onlyResource(edge, 'AWS::CloudFront::Distribution');
    const associations = (
      distribution.Properties.DistributionConfig as {
        DefaultCacheBehavior: { LambdaFunctionAssociations: { EventType: string }[] };
      }
    ).DefaultCacheBehavior.LambdaFunctionAssociations.map((a) => a.EventType);
    const functions = Object.values(resourcesOf(edge, 'AWS::Lambda::Function'))
      .map((f) => String(f.Properties.FunctionName))
      .filter((name) => name.endsWith('-viewer-response'));
    const alarms = templates.flatMap((t) =>
      Object.values(resourcesOf(t, 'AWS::CloudWatch::Alarm'))
        .map((a) => String(a.Properties.AlarmName))
        .filter((name) => name.includes('viewer-response')),
    );
    const [, dashboard] = onlyResource(edge, 'AWS::CloudWatch::Dashboard');
    return {
      associations,
      functions,
      alarms,
      exported: Object.keys(edge.findOutputs('ViewerResponseVersionArn')),
      onDashboard: JSON.stringify(dashboard.Properties.DashboardBody).includes('viewer-response'),
    };
  }

  const withHeaders = build({ clientHeaders: 'viewer-response' });
  const withoutHeaders = build({ clientHeaders: 'none' });
  const byDefault = build({});

  it("deploys no viewer-response function by default: the default is 'none'", () => {
    expect(viewerResponseIn(byDefault)).toEqual(viewerResponseIn(withoutHeaders));
    expect(byDefault.edge.viewerResponse).toBeUndefined();
  });

  it('with viewer-response: deploys, associates, watches and exports the viewer-response function', () => {
    const found = viewerResponseIn(withHeaders);
    expect(found.associations.sort()).toEqual(['viewer-request', 'viewer-response']);
    expect(found.functions).toEqual(['EdgeRateLimiter-viewer-response']);
    // Errors and throttles in every region whose regional edge cache runs it.
    expect(found.alarms.length).toBe(2 * LAMBDA_EDGE_REGIONS.length);
    expect(found.exported).toHaveLength(1);
    expect(found.onDashboard).toBe(true);
  });

  it('with none: no viewer-response function, association, alarm, widget or export, and the same viewer-request bundle', () => {
    expect(viewerResponseIn(withoutHeaders)).toEqual({
      associations: ['viewer-request'],
      functions: [],
      alarms: [],
      exported: [],
      onDashboard: false,
    });
    expect(withoutHeaders.edge.viewerResponse).toBeUndefined();
    // A deployment-only setting: switching it publishes no new viewer-request version.
    expect(withoutHeaders.edge.viewerRequest.bundleFile).toBe(
      withHeaders.edge.viewerRequest.bundleFile,
    );
  });

  it('passes cdk-nag without the viewer-response function', () => {
    expect(nagFindings(withoutHeaders)).toEqual([]);
  });
});
