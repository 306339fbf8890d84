/**
 * The SNS topic a region's alarms page through, with its subscriptions.
 *
 * Why a customer-managed KMS key: CloudWatch can only publish to an encrypted
 * topic when the key policy lets `cloudwatch.amazonaws.com` use the key, and
 * the AWS-managed `alias/aws/sns` key cannot be given that grant. Why an
 * explicit publish statement: `enforceSSL` attaches a topic policy, which
 * replaces SNS's default one, so CloudWatch alarms of this account get their
 * own allow statement, conditioned on the account and on alarm ARNs.
 *
 * The key is scheduled for deletion when its stack is deleted (after
 * {@link KEY_DELETION_WINDOW_DAYS}, during which the deletion can be
 * cancelled, and during which KMS charges nothing for it): it protects
 * notifications in transit, no stored data, and a retained key would cost
 * its monthly fee forever. Its logical id is pinned by the tests: a new one
 * would replace the key and the topic.
 */

import { Annotations, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/** Days a scheduled key deletion waits (the longest, to undo a mistaken destroy). */
export const KEY_DELETION_WINDOW_DAYS = 30;

/** Properties of {@link AlarmTopic}. */
export interface AlarmTopicProps {
  readonly topicName: string;
  readonly displayName: string;
  /** Email addresses to page (each must confirm its subscription). @default none */
  readonly emails?: readonly string[];
  /** HTTPS endpoints to page (a pager's webhook). @default none */
  readonly httpsEndpoints?: readonly string[];
}

/** An encrypted SNS topic that CloudWatch alarms of this account may publish to. */
export class AlarmTopic extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    const { account, region } = Stack.of(this);
    this.key = new kms.Key(this, 'Key', {
      description: `Encrypts the ${props.topicName} alarm topic`,
      enableKeyRotation: true,
      pendingWindow: Duration.days(KEY_DELETION_WINDOW_DAYS),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublishEncrypted',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      topicName: props.topicName,
      displayName: props.displayName,
      masterKey: this.key,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': account },
          ArnLike: {
            'aws:SourceArn': `arn:${Stack.of(this).partition}:cloudwatch:${region}:${account}:alarm:*`,
          },
        },
      }),
    );
    if ((props.emails ?? []).length + (props.httpsEndpoints ?? []).length === 0) {
      Annotations.of(this).addWarningV2(
        'limiter:alarm-topic-without-subscribers',
        `${props.topicName} has no subscription: its alarms page nobody (set notifications in the config)`,
      );
    }
    for (const email of props.emails ?? []) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    }
    for (const url of props.httpsEndpoints ?? []) {
      this.topic.addSubscription(
        new subscriptions.UrlSubscription(url, { protocol: sns.SubscriptionProtocol.HTTPS }),
      );
    }
  }
}
