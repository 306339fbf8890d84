/**
 * Builds the whole deployment from a validated config: the table stack in the
 * primary region (the strong table stack too, when a policy needs it), a
 * regional stack per active region, the edge stack in us-east-1, and an
 * edge-watch stack in every other region with a regional edge cache, with the
 * deploy order as stack dependencies and cdk-nag's AwsSolutions checks on the
 * app. Every stack has an explicit account and region, and nothing is looked
 * up, so synthesis needs no AWS access.
 *
 * Checks that need the whole app run here, before any stack is synthesized:
 * alarm names unique per region across every stack. Example values left in
 * the config (placeholder account, `example.com` addresses) get a warning at
 * synth and a CloudFormation rule in every stack that refuses the deploy.
 */

import { App, type Stack, Tags, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { assertConfig, InvalidConfigError, type LimiterConfig } from '../functions/config/schema';
import { placeholderValues } from '../functions/config/validate-deployment';
import { type AlarmGroup, duplicateAlarmNames } from './alarm-specs';
import { hasFunction } from './bundling';
import { PlaceholderGuard } from './constructs/placeholder-guard';
import {
  activeRegions,
  EDGE_REGION,
  edgeFunctionRoles,
  edgeWatchRegions,
  primaryRegion,
  stackNames,
  strongHomeRegion,
  usesStrongTable,
} from './defaults';
import { EdgeStack } from './stacks/edge-stack';
import { EdgeWatchStack } from './stacks/edge-watch-stack';
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
  /** Edge alarms of the regions with a regional edge cache and no regional stack. */
  readonly edgeWatch: ReadonlyMap<string, EdgeWatchStack>;
  /** Every stack, in creation order. */
  readonly stacks: readonly Stack[];
}

/**
 * Builds every stack. Throws `InvalidConfigError` listing every problem
 * before creating any construct, and listing every clashing alarm name
 * before synthesis.
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
  const edgeFunctions = edgeFunctionRoles(config);
  if (edgeFunctions.includes('viewer-response') && !hasFunction('edge-response')) {
    throw new InvalidConfigError([
      {
        path: 'clientHeaders',
        message:
          'viewer-response needs functions/edge/response-handler.ts, which this tree does not have; set clientHeaders to none',
      },
    ]);
  }
  const active = activeRegions(config);

  const primary = primaryRegion(config);
  const table = new TableStack(app, names.table, {
    env: env(primary),
    description: description('bucket table (global, one replica per region)'),
    tableName: config.tableName,
    replicaRegions: config.regions.slice(1),
    unprotectedReplicas: config.retiringRegions ?? [],
    consistency: 'eventual',
  });
  let strongTable: TableStack | undefined;
  const strongHome = strongHomeRegion(config);
  if (usesStrongTable(config) && config.strong !== undefined && strongHome !== undefined) {
    strongTable = new TableStack(app, names.strongTable, {
      env: env(strongHome),
      description: description(
        'bucket table for strong policies (multi-Region strong consistency)',
      ),
      tableName: config.strong.tableName,
      replicaRegions: config.strong.regions.filter((r) => r !== strongHome),
      consistency: 'strong',
    });
  }
  const tables: Stack[] = strongTable === undefined ? [table] : [table, strongTable];

  const regional = new Map<string, RegionalStack>();
  for (const region of active) {
    const stack = new RegionalStack(app, names.regional(region), {
      env: env(region),
      description: description(`rating API, reconciler, alarms and dashboard in ${region}`),
      config,
      region,
      edgeFunctions,
    });
    for (const t of tables) stack.addStackDependency(t, 'the replica must exist in this region');
    regional.set(region, stack);
  }
  const edge = new EdgeStack(app, names.edge, {
    env: env(EDGE_REGION),
    description: description('Lambda@Edge limiter, its CloudFront distribution and edge dashboard'),
    config,
  });
  for (const t of tables) edge.addStackDependency(t, 'the edge writes to every replica');

  const edgeWatch = new Map<string, EdgeWatchStack>();
  for (const region of edgeWatchRegions(config)) {
    if (regional.has(region)) continue;
    edgeWatch.set(
      region,
      new EdgeWatchStack(app, names.edgeWatch(region), {
        env: env(region),
        description: description(`alarms on the Lambda@Edge limiter running in ${region}`),
        config,
        region,
        functions: edgeFunctions,
      }),
    );
  }

  const stacks: Stack[] = [...tables, ...regional.values(), edge, ...edgeWatch.values()];
  const clashes = duplicateAlarmNames([
    ...[...regional].map(
      ([region, s]): AlarmGroup => ({
        stack: s.stackName,
        region,
        specs: s.alarms.specs,
      }),
    ),
    { stack: edge.stackName, region: EDGE_REGION, specs: edge.alarms.specs },
    ...[...edgeWatch].map(
      ([region, s]): AlarmGroup => ({
        stack: s.stackName,
        region,
        specs: s.alarms.specs,
      }),
    ),
  ]);
  if (clashes.length > 0) {
    throw new InvalidConfigError(clashes.map((message) => ({ path: 'alarm names', message })));
  }

  const placeholders = placeholderValues(config);
  stacks.forEach((stack, i) => {
    new PlaceholderGuard(stack, 'PlaceholderGuard', { placeholders, warn: i === 0 });
  });

  Tags.of(app).add('app', config.appName);
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return {
    app,
    table,
    regional,
    edge,
    edgeWatch,
    stacks,
    ...(strongTable === undefined ? {} : { strongTable }),
  };
}
