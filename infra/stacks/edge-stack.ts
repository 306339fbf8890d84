/**
 * The edge: a CloudFront distribution in front of the configured origin with
 * the limiter as its viewer-request Lambda@Edge function. Deployed in
 * us-east-1, where Lambda@Edge functions must be created (and where
 * CloudFront publishes its metrics, so the edge alarm lives here too).
 *
 * - Nothing is cached (`CACHING_DISABLED`): every request must be counted,
 *   and a cached answer would bypass the function for the origin's response
 *   anyway. All viewer headers but Host reach the origin, all methods pass.
 * - The function has no environment (Lambda@Edge): table name, replica map
 *   and policies are compiled into its bundle. It may reach the table in
 *   every configured region (it uses the replica nearest to where it runs).
 * - When the tree has a viewer-response handler
 *   (functions/edge/response-handler.ts), it is associated too: it copies the
 *   decision into `RateLimit` response headers.
 * - Access logging: CloudFront standard logs go to an encrypted, private
 *   bucket that expires them; they hold IPs and paths, not headers, so API
 *   keys never land there.
 */

import {
  type CfnElement,
  CfnOutput,
  Duration,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { LimiterConfig } from '../../functions/config/schema';
import type { FunctionName } from '../../scripts/build-functions';
import { edgeAlarmSpecs } from '../alarm-specs';
import { functionBundle, hasFunction } from '../bundling';
import { AlarmTopic } from '../constructs/alarm-topic';
import { LimiterAlarms } from '../constructs/limiter-alarms';
import {
  ACCESS_LOG_RETENTION_DAYS,
  EDGE_MEMORY_MB,
  EDGE_REGION,
  EDGE_RUNTIME,
  EDGE_TIMEOUT_SECONDS,
  PARTITION,
} from '../defaults';
import { DECISION_TABLE_ACTIONS, tableStatement } from '../permissions';

/** Properties of {@link EdgeStack}. */
export interface EdgeStackProps extends StackProps {
  readonly config: LimiterConfig;
  /**
   * Associate the viewer-response function. @default whether
   * functions/edge/response-handler.ts exists
   */
  readonly viewerResponse?: boolean;
}

/** The CloudFront distribution and its Lambda@Edge functions. */
export class EdgeStack extends Stack {
  readonly viewerRequest: EdgeLambda;
  readonly viewerResponse?: EdgeLambda;
  readonly distribution: cloudfront.Distribution;
  readonly logBucket: s3.Bucket;
  readonly alarmTopic: AlarmTopic;
  readonly alarms: LimiterAlarms;

  constructor(scope: Construct, id: string, props: EdgeStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.viewerRequest = new EdgeLambda(this, 'ViewerRequest', {
      config,
      functionName: 'edge',
      description: `${config.appName} rate limiter (viewer request)`,
    });
    this.viewerRequest.role.addToPolicy(
      tableStatement(config, DECISION_TABLE_ACTIONS, { regions: 'all', strong: true }),
    );
    const edgeLambdas: cloudfront.EdgeLambda[] = [
      {
        eventType: cloudfront.LambdaEdgeEventType.VIEWER_REQUEST,
        functionVersion: this.viewerRequest.function.currentVersion,
        includeBody: false,
      },
    ];
    if (props.viewerResponse ?? hasFunction('edge-response')) {
      this.viewerResponse = new EdgeLambda(this, 'ViewerResponse', {
        config,
        functionName: 'edge-response',
        description: `${config.appName} RateLimit response headers (viewer response)`,
      });
      edgeLambdas.push({
        eventType: cloudfront.LambdaEdgeEventType.VIEWER_RESPONSE,
        functionVersion: this.viewerResponse.function.currentVersion,
      });
    }

    this.logBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // CloudFront standard logging writes with an ACL grant.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(ACCESS_LOG_RETENTION_DAYS) }],
    });

    const origin = config.origin;
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: `${config.appName}: rate-limited ${origin.domainName}`,
      defaultBehavior: {
        origin: new origins.HttpOrigin(origin.domainName, {
          protocolPolicy:
            origin.protocol === 'http-only'
              ? cloudfront.OriginProtocolPolicy.HTTP_ONLY
              : cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
          ...(origin.httpPort === undefined ? {} : { httpPort: origin.httpPort }),
          ...(origin.httpsPort === undefined ? {} : { httpsPort: origin.httpsPort }),
        }),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        edgeLambdas,
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableLogging: true,
      logBucket: this.logBucket,
      logFilePrefix: 'cloudfront/',
    });

    this.alarmTopic = new AlarmTopic(this, 'Alarms', {
      topicName: `${config.appName}-alarms-edge`,
      displayName: `${config.appName} alarms (edge)`,
      emails: config.notifications?.emails ?? [],
      httpsEndpoints: config.notifications?.httpsEndpoints ?? [],
    });
    this.alarms = new LimiterAlarms(this, 'EdgeAlarms', {
      topic: this.alarmTopic.topic,
      specs: edgeAlarmSpecs(config, this.distribution.distributionId),
    });

    new CfnOutput(this, 'DistributionDomainName', {
      description: 'Send API traffic here',
      value: this.distribution.distributionDomainName,
    });

    this.acknowledgeFindings();
  }

  /** cdk-nag findings this stack accepts, each with its reason. */
  private acknowledgeFindings(): void {
    Validations.of(this.distribution).acknowledge(
      {
        id: 'AwsSolutions-CFR1',
        reason:
          'An API for callers worldwide: no geo restriction. Add one on the distribution if the business needs it.',
      },
      {
        id: 'AwsSolutions-CFR2',
        reason:
          'The rate limiter is this distribution’s abuse protection; a WAF web ACL can be attached on top (webAclId) where the account has one.',
      },
      {
        id: 'AwsSolutions-CFR4',
        reason:
          'Served on the default *.cloudfront.net certificate, whose TLS policy CloudFront fixes; production domains attach an ACM certificate with TLSv1.2_2021.',
      },
    );
    Validations.of(this.logBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket receives the access logs; logging its own access would loop.',
    });
  }
}

/** Properties of {@link EdgeLambda}. */
interface EdgeLambdaProps {
  readonly config: LimiterConfig;
  readonly functionName: FunctionName;
  readonly description: string;
}

/**
 * A Lambda@Edge function from the local esbuild bundle, with a role that may
 * write its logs in every region it runs in (Lambda@Edge logs to
 * `/aws/lambda/us-east-1.<name>` in the region that served the request).
 */
class EdgeLambda extends Construct {
  readonly function: cloudfront.experimental.EdgeFunction;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: EdgeLambdaProps) {
    super(scope, id);
    const bundle = functionBundle(props.functionName, props.config);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    this.function = new cloudfront.experimental.EdgeFunction(this, 'Function', {
      description: props.description,
      runtime: EDGE_RUNTIME,
      // Lambda@Edge runs x86_64 only.
      architecture: lambda.Architecture.X86_64,
      code: bundle.code,
      handler: bundle.handler,
      memorySize: EDGE_MEMORY_MB,
      timeout: Duration.seconds(EDGE_TIMEOUT_SECONDS),
      role: this.role,
    });
    const stack = Stack.of(this);
    const logGroup = (functionName: string) =>
      `arn:${PARTITION}:logs:*:${stack.account}:log-group:/aws/lambda/${EDGE_REGION}.${functionName}:*`;
    // A separate policy: the role's default policy must exist before the
    // function, and this statement names the function.
    const logs = new iam.Policy(this, 'Logs', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({
          sid: 'EdgeLogsInEveryRegion',
          actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup(this.function.functionName)],
        }),
      ],
    });
    const functionId = stack.getLogicalId(this.function.lambda.node.defaultChild as CfnElement);
    Validations.of(logs).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${logGroup(`<${functionId}>`)}]`,
      reason:
        'Lambda@Edge writes its logs in whichever region served the request, so the region is a wildcard; the log group is this function’s only.',
    });
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 is the newest runtime Lambda@Edge supports; the regional functions run the newest Lambda runtime.',
    });
  }
}
