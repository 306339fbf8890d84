/**
 * Creates one CloudWatch alarm per spec, each sending both its ALARM and its
 * OK transition to the region's topic (so a page is always followed by its
 * all-clear).
 */

import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { AlarmSpec } from '../alarm-specs';
import { toMetric } from './metrics';

/** Properties of {@link LimiterAlarms}. */
export interface LimiterAlarmsProps {
  readonly specs: readonly AlarmSpec[];
  readonly topic: sns.ITopic;
}

/** The alarms of one stack. */
export class LimiterAlarms extends Construct {
  readonly alarms: cloudwatch.Alarm[];
  /** The specs the alarms were made from (names, for the app-wide uniqueness check). */
  readonly specs: readonly AlarmSpec[];

  constructor(scope: Construct, id: string, props: LimiterAlarmsProps) {
    super(scope, id);
    this.specs = props.specs;
    const action = new actions.SnsAction(props.topic);
    this.alarms = props.specs.map((spec) => {
      const alarm = new cloudwatch.Alarm(this, spec.id, {
        alarmName: spec.alarmName,
        alarmDescription: spec.description,
        metric: toMetric(spec.metric),
        threshold: spec.threshold,
        comparisonOperator: spec.comparison,
        evaluationPeriods: spec.evaluationPeriods,
        datapointsToAlarm: spec.datapointsToAlarm,
        treatMissingData: spec.treatMissingData,
      });
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      return alarm;
    });
  }
}
