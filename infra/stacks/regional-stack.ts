/**
 * Everything one region runs next to its table replica: the rating API behind
 * a function URL, the reconciler on a one-minute EventBridge Scheduler
 * schedule, the alarm topic, the limiter's alarms (and, when the region has a
 * regional edge cache, the alarms on the Lambda@Edge functions running here)
 * and a dashboard.
 *
 * The functions get the config compiled in (the same bundle in every region)
 * and learn their region from `AWS_REGION`; nothing differs per region except
 * the IAM scope, so they get no environment variables.
 *
 * Callers of the function URL (`regionalApi.callers`) get both
 * `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` (the second one
 * limited to calls through the URL): function URLs need both since October
 * 2025. {@link RegionalStack.grantApiInvoke} does the same for a principal
 * of another CDK app.
 */

import {
  type CfnElement,
  CfnOutput,
  Duration,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type { Construct } from 'constructs';
import type { LimiterConfig } from '../../functions/config/schema';
import { edgeRegionAlarmSpecs, regionalAlarmSpecs } from '../alarm-specs';
import { functionBundle } from '../bundling';
import { AlarmTopic } from '../constructs/alarm-topic';
import { LimiterAlarms } from '../constructs/limiter-alarms';
import { LimiterDashboard } from '../constructs/limiter-dashboard';
import { RegionalFunction } from '../constructs/regional-function';
import {
  API_MEMORY_MB,
  API_TIMEOUT_SECONDS,
  type EdgeFunctionRole,
  edgeWatchRegions,
  functionConfig,
  RECONCILE_EVERY_MINUTES,
  RECONCILER_MEMORY_MB,
  RECONCILER_TIMEOUT_SECONDS,
} from '../defaults';
import {
  DECISION_TABLE_ACTIONS,
  putMetricDataStatement,
  RECONCILER_TABLE_ACTIONS,
  tableStatement,
} from '../permissions';

/** Properties of {@link RegionalStack}. */
export interface RegionalStackProps extends StackProps {
  readonly config: LimiterConfig;
  /** This stack's region (also in `env`). */
  readonly region: string;
  /** The edge functions deployed, for the edge alarms of this region. */
  readonly edgeFunctions: readonly EdgeFunctionRole[];
}

/** One region of the limiter. */
export class RegionalStack extends Stack {
  readonly api: RegionalFunction;
  readonly reconciler: RegionalFunction;
  readonly functionUrl: lambda.FunctionUrl;
  readonly schedule: scheduler.Schedule;
  readonly scheduleRole: iam.Role;
  readonly alarmTopic: AlarmTopic;
  readonly alarms: LimiterAlarms;
  readonly dashboard: LimiterDashboard;

  constructor(scope: Construct, id: string, props: RegionalStackProps) {
    super(scope, id, props);
    const { region } = props;
    // Functions, IAM and alarms see the active regions only (no retiring region).
    const config = functionConfig(props.config);

    const apiBundle = functionBundle('api', config);
    this.api = new RegionalFunction(this, 'Api', {
      description: `${config.appName} rating API (${region})`,
      code: apiBundle.code,
      handler: apiBundle.handler,
      memorySizeMb: API_MEMORY_MB,
      timeoutSeconds: API_TIMEOUT_SECONDS,
      ...(config.regionalApi?.reservedConcurrency === undefined
        ? {}
        : { reservedConcurrency: config.regionalApi.reservedConcurrency }),
    });
    this.api.role.addToPolicy(
      tableStatement(config, DECISION_TABLE_ACTIONS, { regions: { only: region }, strong: true }),
    );
    this.functionUrl = this.api.function.addFunctionUrl({
      authType:
        config.regionalApi?.auth === 'none'
          ? lambda.FunctionUrlAuthType.NONE
          : lambda.FunctionUrlAuthType.AWS_IAM,
    });
    for (const caller of config.regionalApi?.callers ?? []) {
      this.grantApiInvoke(
        /^\d{12}$/.test(caller) ? new iam.AccountPrincipal(caller) : new iam.ArnPrincipal(caller),
      );
    }

    const reconcilerBundle = functionBundle('reconciler', config);
    this.reconciler = new RegionalFunction(this, 'Reconciler', {
      description: `${config.appName} reconciler: replication probe and watched levels (${region})`,
      code: reconcilerBundle.code,
      handler: reconcilerBundle.handler,
      memorySizeMb: RECONCILER_MEMORY_MB,
      timeoutSeconds: RECONCILER_TIMEOUT_SECONDS,
    });
    this.reconciler.role.addToPolicy(
      tableStatement(config, RECONCILER_TABLE_ACTIONS, { regions: 'all', strong: false }),
    );
    this.reconciler.role.addToPolicy(putMetricDataStatement());
    this.scheduleRole = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: `Lets EventBridge Scheduler invoke the ${config.appName} reconciler`,
    });
    this.schedule = new scheduler.Schedule(this, 'ReconcileSchedule', {
      description: `Runs the ${config.appName} reconciler every minute`,
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(RECONCILE_EVERY_MINUTES)),
      // A late run is worthless: the next one is a minute away.
      target: new targets.LambdaInvoke(this.reconciler.function, {
        retryAttempts: 0,
        maxEventAge: Duration.minutes(RECONCILE_EVERY_MINUTES),
        role: this.scheduleRole,
      }),
    });

    this.alarmTopic = new AlarmTopic(this, 'Alarms', {
      topicName: `${config.appName}-alarms-${region}`,
      displayName: `${config.appName} alarms (${region})`,
      emails: config.notifications?.emails ?? [],
      httpsEndpoints: config.notifications?.httpsEndpoints ?? [],
    });
    this.alarms = new LimiterAlarms(this, 'LimiterAlarms', {
      topic: this.alarmTopic.topic,
      specs: [
        ...regionalAlarmSpecs(config, region, {
          apiFunctionName: this.api.function.functionName,
          reconcilerFunctionName: this.reconciler.function.functionName,
        }),
        // The regional alarms above already watch fallbacks and store errors
        // here (the edge publishes the same aggregate series).
        ...(edgeWatchRegions(props.config).includes(region)
          ? edgeRegionAlarmSpecs(config, region, {
              limiterMetrics: false,
              functions: props.edgeFunctions,
              namePrefix: `${config.appName}-${region}-edge`,
            })
          : []),
      ],
    });
    this.dashboard = new LimiterDashboard(this, 'Dashboard', {
      dashboardName: `${config.appName}-${region}`,
      config,
      region,
      alarms: this.alarms.alarms,
      apiFunction: this.api.function,
      reconcilerFunction: this.reconciler.function,
    });

    new CfnOutput(this, 'ApiUrl', {
      description: 'Regional rating API (function URL)',
      value: this.functionUrl.url,
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topic.topicArn });

    this.acknowledgeFindings();
  }

  /**
   * Lets a principal call the rating API's function URL: `lambda:InvokeFunctionUrl`
   * and `lambda:InvokeFunction` through the URL, in its identity policy when
   * it belongs to this app, in the function's resource policy otherwise.
   */
  grantApiInvoke(grantee: iam.IGrantable): iam.Grant {
    return this.api.function.grantInvokeUrl(grantee);
  }

  /** cdk-nag findings this stack accepts, each with its reason. */
  private acknowledgeFindings(): void {
    Validations.of(this.reconciler.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:PutMetricData supports no resource-level permission; the statement is limited to the limiter namespace by the cloudwatch:namespace condition.',
    });
    const reconcilerId = this.getLogicalId(
      this.reconciler.function.node.defaultChild as CfnElement,
    );
    Validations.of(this.scheduleRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${reconcilerId}.Arn>:*]`,
      reason:
        'Scheduler may invoke the reconciler function and its versions: one function, lambda:InvokeFunction only.',
    });
  }
}
