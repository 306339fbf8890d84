/**
 * Turns the metric specs of `alarm-specs.ts` into CloudWatch metric objects,
 * so alarms and dashboard widgets draw the very same series.
 */

import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { type ExpressionSpec, isExpression, type MetricSpec } from '../alarm-specs';
import { ALARM_PERIOD_SECONDS } from '../defaults';

/** A CloudWatch metric (or math expression) for a spec. */
export function toMetric(spec: MetricSpec | ExpressionSpec, label?: string): cloudwatch.IMetric {
  const period = Duration.seconds(spec.periodSeconds ?? ALARM_PERIOD_SECONDS);
  if (isExpression(spec)) {
    return new cloudwatch.MathExpression({
      expression: spec.expression,
      label: label ?? spec.label,
      period,
      usingMetrics: Object.fromEntries(
        Object.entries(spec.metrics).map(([name, m]) => [name, toMetric(m)]),
      ),
    });
  }
  return new cloudwatch.Metric({
    namespace: spec.namespace,
    metricName: spec.metricName,
    dimensionsMap: { ...spec.dimensions },
    statistic: spec.statistic,
    period,
    ...(spec.region === undefined ? {} : { region: spec.region }),
    ...(label === undefined ? {} : { label }),
  });
}
