/**
 * A deployment with a strong policy (synthesized once): the MRSC table stack
 * in a region that does not follow the order of `strong.regions`, its three
 * replicas and no TTL, its pinned logical id; who may reach it; and cdk-nag
 * on this variant too.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LimiterConfig } from '../../functions/config/schema';
import { buildLimiterApp, type LimiterApp } from '../../infra/limiter-app';
import { appLikeCli, strongConfig } from './fixtures';
import {
  logicalIdStartingWith,
  onlyResource,
  resourcesOfStatement,
  roleStatements,
} from './template-helpers';

let config: LimiterConfig;
let built: LimiterApp;

beforeAll(() => {
  config = strongConfig();
  built = buildLimiterApp(config, { app: appLikeCli(), nag: false });
});

const strong = () => {
  if (config.strong === undefined) throw new Error('strongConfig() has no strong table');
  return config.strong;
};
const arn = (region: string, table: string) =>
  `arn:aws:dynamodb:${region}:${config.account}:table/${table}`;

describe('strong table', () => {
  it('lives in the primary region when it is a strong region, and every other stack deploys after it', () => {
    expect(strong().regions[0]).not.toBe(config.regions[0]);
    expect(built.strongTable?.region).toBe(config.regions[0]);
    for (const stack of [built.edge, ...built.regional.values()]) {
      expect(stack.dependencies).toContain(built.strongTable);
    }
  });

  it('stays in its region whatever the order of strong.regions', () => {
    const reordered = (regions: string[]): LimiterConfig => ({
      ...config,
      strong: { tableName: strong().tableName, regions },
    });
    const homes = [
      ['us-east-2', 'us-west-2', 'us-east-1'],
      ['us-west-2', 'us-east-1', 'us-east-2'],
    ].map((regions) => buildLimiterApp(reordered(regions), { nag: false }).strongTable?.region);
    expect(homes).toEqual([built.strongTable?.region, built.strongTable?.region]);
    // Without the primary among them: the first strong region in alphabetical order.
    const withoutPrimary: LimiterConfig = {
      ...config,
      regions: ['eu-west-1', 'us-east-1', 'us-east-2', 'us-west-2'],
      strong: { tableName: strong().tableName, regions: ['us-west-2', 'us-east-2', 'us-east-1'] },
    };
    expect(buildLimiterApp(withoutPrimary, { nag: false }).strongTable?.region).toBe('us-east-1');
  });

  it('is a retained MRSC global table over exactly the strong regions, without TTL', () => {
    const template = Template.fromStack(built.strongTable!);
    const [id, table] = onlyResource(template, 'AWS::DynamoDB::GlobalTable');
    // Pinned: a new logical id would try to create a second table of the same name.
    expect(id).toBe('BucketsF2AD3CC3');
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.Properties.TableName).toBe(strong().tableName);
    expect(table.Properties.MultiRegionConsistency).toBe('STRONG');
    expect(table.Properties.TimeToLiveSpecification).toBeUndefined();
    const replicas = table.Properties.Replicas as Record<string, unknown>[];
    expect(replicas.map((r) => r.Region).sort()).toEqual([...strong().regions].sort());
    for (const r of replicas) expect(r.DeletionProtectionEnabled).toBe(true);
  });

  it('is reachable by the edge and by regional APIs outside the strong region set', () => {
    const strongArns = strong().regions.map((r) => arn(r, strong().tableName));
    const edge = Template.fromStack(built.edge);
    const edgeRole = logicalIdStartingWith(edge, 'AWS::IAM::Role', 'ViewerRequestRole');
    const edgeTables = roleStatements(edge, edgeRole).find((s) => s.Sid === 'BucketTables');
    expect(resourcesOfStatement(edgeTables!)).toEqual(expect.arrayContaining(strongArns));

    const outside = Template.fromStack(built.regional.get('eu-west-1')!);
    const apiRole = logicalIdStartingWith(outside, 'AWS::IAM::Role', 'ApiRole');
    const apiTables = roleStatements(outside, apiRole).find((s) => s.Sid === 'BucketTables');
    expect((resourcesOfStatement(apiTables!) as string[]).sort()).toEqual(
      [arn('eu-west-1', config.tableName), ...strongArns].sort(),
    );
  });

  it('passes cdk-nag with nothing unacknowledged', () => {
    const report = new AwsSolutionsChecks().validateScope(built.app);
    expect(report.violations.map((v) => v.ruleName)).toEqual([]);
  });
});
