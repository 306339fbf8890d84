/**
 * Builds the whole deployment from a validated config: the table stack in the
 * primary region (the strong table stack too, when a policy needs it), a
 * regional stack per region, and the edge stack in us-east-1, with the
 * deploy order as stack dependencies and cdk-nag's AwsSolutions checks on
 * the app. Every stack has an explicit account and region, and nothing is
 * looked up, so synthesis needs no AWS access.
 */

import { App, type Stack, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { assertConfig, type LimiterConfig } from '../functions/config/schema';
import { EDGE_REGION, primaryRegion, stackNames, usesStrongTable } from './defaults';
import { EdgeStack } from './stacks/edge-stack';
import { RegionalStack } from './stacks/regional-stack';
import { TableStack } from './stacks/table-stack';

/** Options of {@link buildLimiterApp}. */
export interface LimiterAppOptions {
  /** @default a new App */
  readonly app?: App;
  /** Register cdk-nag's AwsSolutions checks as a synthesis validation. @default true */
  readonly nag?: boolean;
}

/** The stacks of one deployment. */
export interface LimiterApp {
  readonly app: App;
  readonly table: TableStack;
  readonly strongTable?: TableStack;
  readonly regional: ReadonlyMap<string, RegionalStack>;
  readonly edge: EdgeStack;
}

/**
 * Builds every stack. Throws `InvalidConfigError` listing every problem
 * before creating any construct.
 */
export function buildLimiterApp(
  config: LimiterConfig,
  options: LimiterAppOptions = {},
): LimiterApp {
  assertConfig(config);
  const app = options.app ?? new App();
  const names = stackNames(config);
  const env = (region: string) => ({ account: config.account, region });
  const description = (what: string) => `${config.appName}: ${what}`;

  const primary = primaryRegion(config);
  const table = new TableStack(app, names.table, {
    env: env(primary),
    description: description('bucket table (global, one replica per region)'),
    tableName: config.tableName,
    replicaRegions: config.regions.slice(1),
    consistency: 'eventual',
  });
  let strongTable: TableStack | undefined;
  if (usesStrongTable(config) && config.strong !== undefined) {
    const [home, ...replicas] = config.strong.regions;
    strongTable = new TableStack(app, names.strongTable, {
      env: env(home ?? primary),
      description: description(
        'bucket table for strong policies (multi-Region strong consistency)',
      ),
      tableName: config.strong.tableName,
      replicaRegions: replicas,
      consistency: 'strong',
    });
  }
  const tables: Stack[] = strongTable === undefined ? [table] : [table, strongTable];

  const regional = new Map<string, RegionalStack>();
  for (const region of config.regions) {
    const stack = new RegionalStack(app, names.regional(region), {
      env: env(region),
      description: description(`rating API, reconciler, alarms and dashboard in ${region}`),
      config,
      region,
    });
    for (const t of tables) stack.addStackDependency(t, 'the replica must exist in this region');
    regional.set(region, stack);
  }
  const edge = new EdgeStack(app, names.edge, {
    env: env(EDGE_REGION),
    description: description('CloudFront distribution with the Lambda@Edge limiter'),
    config,
  });
  for (const t of tables) edge.addStackDependency(t, 'the edge writes to every replica');

  Tags.of(app).add('app', config.appName);
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, table, regional, edge, ...(strongTable === undefined ? {} : { strongTable }) };
}
