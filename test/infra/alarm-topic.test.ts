/**
 * The alarm topic on its own (no bundling, fast): every configured address
 * is subscribed with its protocol, and a topic nobody subscribes to is
 * flagged at synth time instead of silently paging nobody.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { AlarmTopic } from '../../infra/constructs/alarm-topic';
import { TEST_ACCOUNT } from './fixtures';

function topicStack(emails: string[], httpsEndpoints: string[]): Stack {
  const stack = new Stack(new App(), 'Topic', {
    env: { account: TEST_ACCOUNT, region: 'eu-west-1' },
  });
  new AlarmTopic(stack, 'Alarms', {
    topicName: 'alarms',
    displayName: 'alarms',
    emails,
    httpsEndpoints,
  });
  return stack;
}

describe('AlarmTopic', () => {
  it('subscribes every email and HTTPS endpoint', () => {
    const stack = topicStack(
      ['a@example.com', 'b@example.com'],
      ['https://pager.example.com/hook'],
    );
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SNS::Subscription', 3);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'b@example.com',
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'https',
      Endpoint: 'https://pager.example.com/hook',
    });
    expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });

  it('warns at synth time when nobody would be paged', () => {
    const stack = topicStack([], []);
    Template.fromStack(stack).resourceCountIs('AWS::SNS::Subscription', 0);
    const warnings = Annotations.fromStack(stack).findWarning(
      '*',
      Match.stringLikeRegexp('alarms has no subscription'),
    );
    expect(warnings).toHaveLength(1);
  });
});
