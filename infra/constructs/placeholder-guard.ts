/**
 * Stops a deploy of a config that still holds example values, without
 * stopping `cdk synth`.
 *
 * Why not a synth-time error: CI and the tests synthesize the shipped config
 * (which must hold examples) offline, and the CDK app cannot tell `cdk synth`
 * from `cdk deploy` (both run the same app; a context flag would rely on
 * people remembering to set it). So synthesis only warns, and the template
 * carries the check: a parameter whose default lists the example values and a
 * CloudFormation rule asserting it is empty. CloudFormation evaluates rules
 * before it creates or changes anything, so `cdk deploy` fails at once with
 * the rule's message, naming each value and its field.
 */

import { Annotations, CfnParameter, CfnRule, Fn, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { PlaceholderValue } from '../../functions/config/validate-deployment';

/** Logical id of the parameter that lists the example values. */
export const PLACEHOLDER_PARAMETER_ID = 'LimiterPlaceholderValues';
/** Logical id of the rule that refuses them. */
export const PLACEHOLDER_RULE_ID = 'LimiterNoPlaceholderValues';

/** Properties of {@link PlaceholderGuard}. */
export interface PlaceholderGuardProps {
  readonly placeholders: readonly PlaceholderValue[];
  /** Also warn at synth (once per app is enough). @default true */
  readonly warn?: boolean;
}

/** A synth-time warning and a deploy-time refusal, when the config holds example values. */
export class PlaceholderGuard extends Construct {
  constructor(scope: Construct, id: string, props: PlaceholderGuardProps) {
    super(scope, id);
    if (props.placeholders.length === 0) return;
    const stack = Stack.of(this);
    const listed = props.placeholders.map((p) => `${p.path} (${p.value})`).join(', ');
    const message = `The limiter config still holds example values: ${listed}. Replace them before deploying (docs/first-deploy.md).`;
    if (props.warn ?? true)
      Annotations.of(stack).addWarningV2('limiter:placeholder-values', message);
    const parameter = new CfnParameter(stack, PLACEHOLDER_PARAMETER_ID, {
      type: 'String',
      default: listed,
      description:
        'Example values found in the limiter config; the deploy is refused unless empty.',
    });
    new CfnRule(stack, PLACEHOLDER_RULE_ID, {
      assertions: [
        {
          assert: Fn.conditionEquals(parameter.valueAsString, ''),
          assertDescription: message,
        },
      ],
    });
  }
}
