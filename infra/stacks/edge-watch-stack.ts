/**
 * The alarms of one region whose regional edge cache runs the limiter but
 * that has no regional stack: Lambda@Edge writes its metrics where it runs,
 * and an alarm can only watch metrics of its own region, so without this
 * stack a store outage seen from, say, Frankfurt would turn limiting off
 * there (`onStoreError: 'open'` answers 2xx) and page nobody.
 *
 * It holds an encrypted alarm topic with the configured subscriptions (each
 * email confirms once per region) and the edge alarms of the region:
 * fallbacks, store errors, and the errors and throttles of each edge
 * function. Nothing here depends on the other stacks: the function names are
 * fixed, so the stack can be deployed before or after the edge stack.
 */

import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { LimiterConfig } from '../../functions/config/schema';
import { edgeRegionAlarmSpecs } from '../alarm-specs';
import { AlarmTopic } from '../constructs/alarm-topic';
import { LimiterAlarms } from '../constructs/limiter-alarms';
import type { EdgeFunctionRole } from '../defaults';

/** Properties of {@link EdgeWatchStack}. */
export interface EdgeWatchStackProps extends StackProps {
  readonly config: LimiterConfig;
  /** This stack's region (also in `env`). */
  readonly region: string;
  readonly functions: readonly EdgeFunctionRole[];
}

/** Edge alarms of one region without a regional stack. */
export class EdgeWatchStack extends Stack {
  readonly alarmTopic: AlarmTopic;
  readonly alarms: LimiterAlarms;

  constructor(scope: Construct, id: string, props: EdgeWatchStackProps) {
    super(scope, id, props);
    const { config, region } = props;
    this.alarmTopic = new AlarmTopic(this, 'Alarms', {
      topicName: `${config.appName}-alarms-edge-${region}`,
      displayName: `${config.appName} alarms (edge, ${region})`,
      emails: config.notifications?.emails ?? [],
      httpsEndpoints: config.notifications?.httpsEndpoints ?? [],
    });
    this.alarms = new LimiterAlarms(this, 'EdgeAlarms', {
      topic: this.alarmTopic.topic,
      specs: edgeRegionAlarmSpecs(config, region, {
        limiterMetrics: true,
        functions: props.functions,
        namePrefix: `${config.appName}-edge-${region}`,
      }),
    });
  }
}
