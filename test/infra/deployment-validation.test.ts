/**
 * The deployment settings of the config are validated with the rest (every
 * problem at once, each at its field): region changes against the record of
 * the last deploy, retiring regions, origin protection, the distribution
 * options, callers and reserved concurrency, duplicate watched keys. Also the
 * example values that must stop a deploy but not a synth, the app-wide alarm
 * name check, and the two template tools (cfn-lint runner, import mapping).
 */
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { describe, expect, it } from 'vitest';
import {
  type ConfigProblem,
  type LimiterConfig,
  validateConfig,
} from '../../functions/config/schema';
import { PLACEHOLDER_ACCOUNT, placeholderValues } from '../../functions/config/validate-deployment';
import { type AlarmSpec, duplicateAlarmNames, watchedKeyId } from '../../infra/alarm-specs';
import { functionConfig } from '../../infra/defaults';
import { importMapping } from '../../infra/import-mapping';
import { buildLimiterApp } from '../../infra/limiter-app';
import { stackTemplates } from '../../infra/lint-templates';
import { baseConfig, strongConfig } from './fixtures';

const at = (problems: readonly ConfigProblem[], path: string) =>
  problems.filter((p) => p.path === path).map((p) => p.message);

/** The shipped regions, as if deployed with them. */
function deployedBase(patch: Partial<LimiterConfig> = {}): LimiterConfig {
  const base = baseConfig();
  return { ...base, deployed: { regions: base.regions }, ...patch };
}

describe('region changes against the last deploy', () => {
  it('accepts no change, one added replica, and one removed replica that was retiring', () => {
    expect(validateConfig(deployedBase())).toEqual([]);
    expect(
      validateConfig(
        deployedBase({ regions: ['us-east-1', 'eu-west-1', 'ap-southeast-1', 'eu-central-1'] }),
      ),
    ).toEqual([]);
    expect(
      validateConfig({
        ...baseConfig(),
        regions: ['us-east-1', 'eu-west-1'],
        deployed: {
          regions: ['us-east-1', 'eu-west-1', 'ap-southeast-1'],
          retiringRegions: ['ap-southeast-1'],
        },
      }),
    ).toEqual([]);
  });

  it('refuses two replica changes in one deploy, naming both and the sequence', () => {
    const problems = validateConfig(
      deployedBase({
        regions: ['us-east-1', 'eu-west-1', 'ap-southeast-1', 'eu-central-1', 'ap-northeast-1'],
      }),
    );
    expect(at(problems, 'regions')).toEqual([
      expect.stringMatching(
        /2 replica changes .*add eu-central-1, add ap-northeast-1.*one per deploy/,
      ),
    ]);
  });

  it('refuses a removal whose replica still has deletion protection', () => {
    const problems = validateConfig(deployedBase({ regions: ['us-east-1', 'eu-west-1'] }));
    expect(at(problems, 'regions')).toEqual([
      expect.stringContaining(
        'ap-southeast-1 was removed, but its replica still has deletion protection',
      ),
    ]);
  });

  it('refuses a new primary region, and reordering counts as one', () => {
    const problems = validateConfig(
      deployedBase({ regions: ['eu-west-1', 'us-east-1', 'ap-southeast-1'] }),
    );
    expect(at(problems, 'regions[0]')).toEqual([
      expect.stringContaining('primary region was us-east-1 at the last deploy and cannot change'),
    ]);
    expect(at(problems, 'regions')).toEqual([]);
  });

  it('checks retiring regions: in regions, not the primary, not a strong region, once', () => {
    const strong = strongConfig();
    const problems = validateConfig({
      ...strong,
      retiringRegions: ['us-east-1', 'us-west-2', 'eu-central-1', 'eu-west-1', 'eu-west-1'],
    });
    expect(at(problems, 'retiringRegions[0]')).toEqual([
      expect.stringContaining('is the primary region'),
      expect.stringContaining('is a strong region'),
    ]);
    expect(at(problems, 'retiringRegions[1]')).toEqual([
      expect.stringContaining('is a strong region'),
    ]);
    expect(at(problems, 'retiringRegions[2]')).toEqual([
      expect.stringContaining('is not in regions'),
    ]);
    expect(at(problems, 'retiringRegions[3]')).toEqual([]);
    expect(at(problems, 'retiringRegions[4]')).toEqual(['duplicate region "eu-west-1"']);
  });
});

describe('deployment settings', () => {
  it('names every problem at once, each at its field', () => {
    const config = {
      ...baseConfig(),
      origin: { domainName: 'api.acme-corp.net', kind: 'lambda-function-url' },
      originProtection: { headerName: 'x-amz-secret', secretVersionId: 'v1' },
      distribution: {
        domainNames: ['api.acme-corp.net', 'not a host'],
        certificateArn:
          'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
        minimumProtocolVersion: 'TLSv1',
        waf: { requestsPerIp: 5, windowSeconds: 90, mode: 'drop' },
        webAclArn:
          'arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
      },
      edgeMonitoring: { regions: ['eu-central-1', 'eu-central-1', 'mars-1'] },
      regionalApi: { callers: ['billing-role'], reservedConcurrency: 0 },
    } as unknown as LimiterConfig;
    const problems = validateConfig(config);
    const paths = problems.map((p) => p.path);
    expect(paths.sort()).toEqual(
      [
        'origin.domainName',
        'originProtection.headerName',
        'originProtection.secretVersionId',
        'distribution.domainNames[1]',
        'distribution.certificateArn',
        'distribution.minimumProtocolVersion',
        'distribution.waf.requestsPerIp',
        'distribution.waf.windowSeconds',
        'distribution.waf.mode',
        'distribution.webAclArn',
        'edgeMonitoring.regions[1]',
        'edgeMonitoring.regions[2]',
        'regionalApi.callers[0]',
        'regionalApi.reservedConcurrency',
      ].sort(),
    );
    expect(at(problems, 'distribution.certificateArn')[0]).toContain('us-east-1');
    expect(at(problems, 'originProtection.headerName')[0]).toContain(
      'CloudFront or the limiter sets itself',
    );
  });

  it('keeps the settings of an existing distribution out of the config', () => {
    const problems = validateConfig({
      ...baseConfig(),
      distribution: {
        existingDistributionId: 'd123',
        waf: { requestsPerIp: 100 },
      },
    });
    expect(at(problems, 'distribution.existingDistributionId')).toEqual([
      expect.stringContaining('is not a CloudFront distribution id'),
    ]);
    expect(at(problems, 'distribution.waf')).toEqual([
      expect.stringContaining('belongs to the existing distribution'),
    ]);
  });

  it('wants a certificate with domain names and domain names with a certificate', () => {
    expect(
      at(
        validateConfig({ ...baseConfig(), distribution: { domainNames: ['api.acme-corp.net'] } }),
        'distribution.certificateArn',
      ),
    ).toEqual(['domainNames need a certificate that covers them']);
  });

  it('refuses the same watched key twice in a policy (one alarm name each)', () => {
    const base = baseConfig();
    const problems = validateConfig({
      ...base,
      policies: base.policies.map((p) =>
        p.id === 'global-cap' ? { ...p, watchKeys: ['all', 'x', 'all'] } : p,
      ),
    });
    const i = base.policies.findIndex((p) => p.id === 'global-cap');
    expect(at(problems, `policies[${i}].watchKeys[2]`)).toEqual(['duplicate watched key "all"']);
  });
});

describe('functionConfig', () => {
  it('drops retiring regions and every deployment-only setting, and stays valid', () => {
    const config: LimiterConfig = {
      ...deployedBase(),
      retiringRegions: ['ap-southeast-1'],
      distribution: { waf: { requestsPerIp: 100 } },
      originProtection: { headerName: 'x-cdn-auth' },
      edgeMonitoring: { regions: ['eu-central-1'] },
      clientHeaders: 'viewer-response',
      edgeSystemLogLevel: 'INFO',
    };
    const compiled = functionConfig(config);
    expect(compiled.regions).toEqual(['us-east-1', 'eu-west-1']);
    for (const field of [
      'retiringRegions',
      'deployed',
      'distribution',
      'originProtection',
      'edgeMonitoring',
      'clientHeaders',
      'edgeSystemLogLevel',
    ]) {
      expect(compiled).not.toHaveProperty(field);
    }
    expect(compiled.policies).toEqual(config.policies);
    expect(validateConfig(compiled)).toEqual([]);
  });
});

describe('placeholderValues', () => {
  it('finds the example account, addresses and hosts, with their fields', () => {
    const config: LimiterConfig = {
      ...baseConfig(),
      account: PLACEHOLDER_ACCOUNT,
      origin: { domainName: 'api.example.com' },
      notifications: {
        emails: ['oncall@example.com', 'ops@acme-corp.net', 'pager@team.example.org'],
        httpsEndpoints: ['https://hooks.example.net/pager', 'https://pager.acme-corp.net/x'],
      },
      distribution: {
        domainNames: ['api.test', 'api.acme-corp.net'],
        certificateArn:
          'arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
      },
    };
    expect(placeholderValues(config)).toEqual([
      { path: 'account', value: '111111111111' },
      { path: 'origin.domainName', value: 'api.example.com' },
      { path: 'notifications.emails[0]', value: 'oncall@example.com' },
      { path: 'notifications.emails[2]', value: 'pager@team.example.org' },
      { path: 'notifications.httpsEndpoints[0]', value: 'https://hooks.example.net/pager' },
      { path: 'distribution.domainNames[0]', value: 'api.test' },
    ]);
  });

  it('finds nothing in a real config, whose templates then carry no guard', () => {
    const clean: LimiterConfig = {
      ...baseConfig(),
      origin: { domainName: 'origin.acme-corp.net' },
      notifications: { emails: ['oncall@acme-corp.net'] },
    };
    expect(placeholderValues(clean)).toEqual([]);
    const built = buildLimiterApp(clean, { nag: false });
    for (const stack of built.stacks) {
      const json = Template.fromStack(stack).toJSON() as { Rules?: Record<string, unknown> };
      expect(Object.keys(json.Rules ?? {}).filter((r) => r.startsWith('Limiter'))).toEqual([]);
    }
  });
});

describe('alarm names', () => {
  const spec = (id: string, alarmName: string): AlarmSpec => ({
    id,
    alarmName,
    description: '',
    metric: { namespace: 'N', metricName: 'M', dimensions: {}, statistic: 'Sum' },
    threshold: 1,
    comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    datapointsToAlarm: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });

  it('clash only within one region, and every clash and overlong name is named', () => {
    const problems = duplicateAlarmNames([
      { stack: 'A', region: 'eu-west-1', specs: [spec('X', 'app-x'), spec('Y', 'app-y')] },
      { stack: 'B', region: 'eu-west-1', specs: [spec('X2', 'app-x')] },
      { stack: 'C', region: 'us-east-1', specs: [spec('Y', 'app-y'), spec('L', 'n'.repeat(256))] },
    ]);
    expect(problems).toEqual([
      expect.stringContaining('is longer than 255 characters'),
      'alarm name app-x is used 2 times in eu-west-1: A/X, B/X2',
    ]);
  });

  it('slug watched keys readably and tell apart keys that slug alike', () => {
    const ids = ['tenant.a', 'tenant-a', 'TenantA', 'ключ'].map(watchedKeyId);
    expect(ids[0]?.slug).toMatch(/^tenant-a-[0-9a-f]{8}$/);
    expect(new Set(ids.map((i) => i.slug)).size).toBe(4);
    expect(ids[3]?.slug).toMatch(/^[0-9a-f]{8}$/);
    expect(watchedKeyId('x'.repeat(300)).slug.length).toBeLessThanOrEqual(48 + 9);
  });
});

describe('template tools', () => {
  it('read each stack region from the cloud assembly, refusing a stack without one', () => {
    const manifest = {
      artifacts: {
        'App-Table': {
          type: 'aws:cloudformation:stack',
          environment: 'aws://123456789012/eu-west-1',
          properties: { templateFile: 'App-Table.template.json' },
        },
        Tree: { type: 'cdk:tree' },
      },
    };
    expect(stackTemplates('/out', manifest)).toEqual([
      {
        stack: 'App-Table',
        region: 'eu-west-1',
        template: join('/out', 'App-Table.template.json'),
      },
    ]);
    expect(() =>
      stackTemplates('/out', {
        artifacts: {
          X: {
            type: 'aws:cloudformation:stack',
            environment: 'aws://unknown-account/unknown-region',
            properties: { templateFile: 'X.json' },
          },
        },
      }),
    ).toThrow(/explicit region/);
  });

  it('map the retained table of the synthesized table stack for cdk import', () => {
    const built = buildLimiterApp(baseConfig(), { nag: false });
    const mapping = importMapping(Template.fromStack(built.table).toJSON());
    expect(mapping).toEqual({ BucketsF2AD3CC3: { TableName: baseConfig().tableName } });
    expect(() =>
      importMapping({
        Resources: { T: { Type: 'AWS::DynamoDB::GlobalTable', Properties: { TableName: 't' } } },
      }),
    ).toThrow(/not retained/);
  });
});
