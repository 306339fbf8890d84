/**
 * A regional Lambda function as this project runs them: Node.js on arm64, the
 * esbuild bundle as code, its own log group with a retention, and a role that
 * starts empty (no managed policy): callers add exactly the statements the
 * function needs, and the log permissions name its log group only.
 */

import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LOG_RETENTION, REGIONAL_RUNTIME } from '../defaults';
import { LAMBDA_ROLE_DEPENDENCY, suppressCfnLint } from './cfn-lint-suppressions';

/** Properties of {@link RegionalFunction}. */
export interface RegionalFunctionProps {
  readonly description: string;
  readonly code: lambda.Code;
  readonly handler: string;
  readonly memorySizeMb: number;
  readonly timeoutSeconds: number;
  /** Reserved concurrency: a cap on this function's share of the region's concurrency. @default unreserved */
  readonly reservedConcurrency?: number;
}

/** A Lambda function with a least-privilege role and a retained-for-a-while log group. */
export class RegionalFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RegionalFunctionProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: LOG_RETENTION,
    });
    this.logGroup.grantWrite(this.role);
    this.function = new lambda.Function(this, 'Function', {
      description: props.description,
      runtime: REGIONAL_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      code: props.code,
      handler: props.handler,
      memorySize: props.memorySizeMb,
      timeout: Duration.seconds(props.timeoutSeconds),
      role: this.role,
      logGroup: this.logGroup,
      ...(props.reservedConcurrency === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrency }),
    });
    suppressCfnLint(this.function, LAMBDA_ROLE_DEPENDENCY);
  }
}
