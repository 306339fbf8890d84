/**
 * The edge at a glance, in one dashboard (dashboards are global, so it can
 * show every region): the distribution's requests and error rates, then, one
 * line per region with a regional edge cache, what the limiter did there
 * (fallbacks, store errors) and how its Lambda@Edge functions fared
 * (invocations, errors, throttles), and the WAF rule when there is one.
 *
 * Lambda@Edge publishes in the region that ran it, under the function name
 * `us-east-1.<name>`; the limiter's own EMF metrics land in the same region.
 * In a table region the limiter's aggregate series also counts the regional
 * API's decisions.
 */

import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { LimiterConfig } from '../../functions/config/schema';
import { METRIC } from '../../functions/shared/metric-names';
import { limiterMetric } from '../alarm-specs';
import { type EdgeFunctionRole, edgeMetricFunctionName } from '../defaults';
import { suppressStaleDashboardSchema } from './cfn-lint-suppressions';
import { toMetric } from './metrics';

const FULL_WIDTH = 24;
const HALF_WIDTH = 12;
const THIRD_WIDTH = 8;
const GRAPH_HEIGHT = 6;
const ALARM_ROW_HEIGHT = 3;

/** Properties of {@link EdgeDashboard}. */
export interface EdgeDashboardProps {
  readonly dashboardName: string;
  readonly config: LimiterConfig;
  /** Regions with a regional edge cache to show. */
  readonly regions: readonly string[];
  readonly functions: readonly EdgeFunctionRole[];
  readonly distributionId: string;
  /** Alarms of the edge stack (us-east-1). */
  readonly alarms: readonly cloudwatch.IAlarm[];
  /** CloudWatch metric name of the web ACL, when the stack has one. */
  readonly webAclMetricName?: string;
}

/** The edge dashboard. */
export class EdgeDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: EdgeDashboardProps) {
    super(scope, id);
    const { config, regions } = props;
    const graph = (title: string, left: cloudwatch.IMetric[], width = THIRD_WIDTH) =>
      new cloudwatch.GraphWidget({ title, left, width, height: GRAPH_HEIGHT });
    const cloudFront = (metricName: string, statistic: string, label: string) =>
      toMetric(
        {
          namespace: 'AWS/CloudFront',
          metricName,
          dimensions: { DistributionId: props.distributionId, Region: 'Global' },
          statistic,
          region: 'us-east-1',
        },
        label,
      );
    const perRegion = (
      metricName: string,
      namespace: string,
      dimensions: Record<string, string>,
    ): cloudwatch.IMetric[] =>
      regions.map((region) =>
        toMetric({ namespace, metricName, dimensions, statistic: 'Sum', region }, region),
      );

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
    });
    suppressStaleDashboardSchema(this.dashboard);
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Edge alarms (us-east-1; each region with a regional edge cache has its own)',
        alarms: [...props.alarms],
        width: FULL_WIDTH,
        height: ALARM_ROW_HEIGHT,
      }),
    );
    this.dashboard.addWidgets(
      graph('CloudFront requests', [cloudFront('Requests', 'Sum', 'requests')], HALF_WIDTH),
      graph(
        'CloudFront error rates (%)',
        [
          cloudFront('4xxErrorRate', 'Average', '4xx (429s of the limiter included)'),
          cloudFront('5xxErrorRate', 'Average', '5xx'),
        ],
        HALF_WIDTH,
      ),
    );
    const limiter = (name: string) =>
      regions.map((region) => toMetric({ ...limiterMetric(name, 'Sum'), region }, region));
    this.dashboard.addWidgets(
      graph(
        'Limiter fallbacks by region (edge; table regions add the API)',
        limiter(METRIC.Fallbacks),
        HALF_WIDTH,
      ),
      graph('Limiter store errors by region', limiter(METRIC.StoreErrors), HALF_WIDTH),
    );
    for (const role of props.functions) {
      const dims = { FunctionName: edgeMetricFunctionName(config, role) };
      this.dashboard.addWidgets(
        graph(`${role}: invocations by region`, perRegion('Invocations', 'AWS/Lambda', dims)),
        graph(`${role}: errors by region`, perRegion('Errors', 'AWS/Lambda', dims)),
        graph(`${role}: throttles by region`, perRegion('Throttles', 'AWS/Lambda', dims)),
      );
    }
    if (props.webAclMetricName !== undefined) {
      const waf = (metricName: string, rule: string) =>
        toMetric(
          {
            namespace: 'AWS/WAFV2',
            metricName,
            dimensions: { WebACL: props.webAclMetricName ?? '', Rule: rule },
            statistic: 'Sum',
            region: 'us-east-1',
          },
          `${metricName} (${rule})`,
        );
      this.dashboard.addWidgets(
        graph(
          'WAF flood floor',
          [
            waf('BlockedRequests', `${props.webAclMetricName}-RequestsPerIp`),
            waf('CountedRequests', `${props.webAclMetricName}-RequestsPerIp`),
            waf('AllowedRequests', 'ALL'),
          ],
          FULL_WIDTH,
        ),
      );
    }
  }
}
