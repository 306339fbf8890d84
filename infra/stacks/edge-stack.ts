/**
 * The edge: the limiter as the viewer-request Lambda@Edge function of a
 * CloudFront distribution in front of the configured origin, and (with
 * `clientHeaders: 'viewer-response'`) the viewer-response function that gives
 * clients the RateLimit headers of admitted requests. Deployed in
 * us-east-1, where Lambda@Edge functions must be created (and where
 * CloudFront publishes its metrics, so the distribution's alarm and the edge
 * dashboard live here too).
 *
 * - Nothing is cached (`CACHING_DISABLED`): every request must be counted,
 *   and a cached answer would bypass the function for the origin's response
 *   anyway. All viewer headers but Host reach the origin, all methods pass.
 * - The functions have no environment (Lambda@Edge): table name, replica map
 *   and policies are compiled into their bundles. The viewer-request function
 *   may reach the table in every active region (it uses the replica nearest
 *   to where it runs). Their names are fixed, so that the alarm stacks of the
 *   other regions can name their metrics (`us-east-1.<name>` there).
 * - Origin protection: for an `http` origin CloudFront adds a secret header
 *   (`originProtection`) whose value stays in Secrets Manager: the template
 *   holds a `{{resolve:secretsmanager:…}}` dynamic reference, which
 *   CloudFormation resolves when it updates the distribution and does not
 *   store; the function bundles never see it. Lambda function URL and S3
 *   origins get origin access control instead (CloudFront signs with SigV4).
 * - Production options from `distribution`: a custom domain with an ACM
 *   certificate and a TLS policy, a WAF web ACL with a rate-based rule (a
 *   flood floor: blocked requests cost no Lambda@Edge invocation), or no
 *   distribution at all (`existingDistributionId`): the function versions are
 *   then exported for association with that distribution.
 * - Function logs: Lambda's JSON format, with Lambda's own records filtered to
 *   `edgeSystemLogLevel` (by default warnings only: no START/END/REPORT
 *   record per invocation, see {@link edgeLogging}).
 * - Access logging: CloudFront standard logs go to an encrypted, private
 *   bucket that expires them; they hold IPs and paths, not headers, so API
 *   keys (and the origin secret) never land there.
 */

import {
  Annotations,
  CfnOutput,
  Duration,
  RemovalPolicy,
  SecretValue,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type { EdgeSystemLogLevel, LimiterConfig } from '../../functions/config/schema';
import type { FunctionName } from '../../scripts/build-functions';
import { edgeAlarmSpecs } from '../alarm-specs';
import { functionBundle } from '../bundling';
import { AlarmTopic } from '../constructs/alarm-topic';
import { LAMBDA_ROLE_DEPENDENCY, suppressCfnLint } from '../constructs/cfn-lint-suppressions';
import { EdgeDashboard } from '../constructs/edge-dashboard';
import { LimiterAlarms } from '../constructs/limiter-alarms';
import {
  ACCESS_LOG_RETENTION_DAYS,
  DEFAULT_VIEWER_TLS_POLICY,
  DEFAULT_WAF_WINDOW_SECONDS,
  EDGE_MEMORY_MB,
  EDGE_REGION,
  EDGE_RUNTIME,
  EDGE_TIMEOUT_SECONDS,
  type EdgeFunctionRole,
  edgeFunctionName,
  edgeFunctionRoles,
  edgeSystemLogLevel,
  edgeWatchRegions,
  functionConfig,
  ORIGIN_SECRET_LENGTH,
  originHeaderEnabled,
  originHeaderName,
  PARTITION,
} from '../defaults';
import { DECISION_TABLE_ACTIONS, tableStatement } from '../permissions';

/** Properties of {@link EdgeStack}. */
export interface EdgeStackProps extends StackProps {
  /** The config; `clientHeaders` decides whether the viewer-response function exists. */
  readonly config: LimiterConfig;
}

/** The Lambda@Edge functions, their distribution (unless an existing one is used) and its alarm. */
export class EdgeStack extends Stack {
  readonly viewerRequest: EdgeLambda;
  readonly viewerResponse?: EdgeLambda;
  /** The distribution this stack created; absent with `distribution.existingDistributionId`. */
  readonly distribution?: cloudfront.Distribution;
  /** Id of the distribution the functions serve (created here or existing). */
  readonly distributionId: string;
  readonly logBucket?: s3.Bucket;
  /** The secret whose value CloudFront sends to the origin, when the header is on. */
  readonly originSecret?: secretsmanager.ISecret;
  readonly webAcl?: wafv2.CfnWebACL;
  readonly alarmTopic: AlarmTopic;
  readonly alarms: LimiterAlarms;
  readonly dashboard: EdgeDashboard;

  constructor(scope: Construct, id: string, props: EdgeStackProps) {
    super(scope, id, props);
    const { config } = props;
    const bundled = functionConfig(config);
    const systemLogLevel = edgeSystemLogLevel(config);

    this.viewerRequest = new EdgeLambda(this, 'ViewerRequest', {
      config: bundled,
      functionName: 'edge',
      role: 'viewer-request',
      description: `${config.appName} rate limiter (viewer request)`,
      systemLogLevel,
    });
    this.viewerRequest.role.addToPolicy(
      tableStatement(bundled, DECISION_TABLE_ACTIONS, { regions: 'all', strong: true }),
    );
    const edgeLambdas: cloudfront.EdgeLambda[] = [
      {
        eventType: cloudfront.LambdaEdgeEventType.VIEWER_REQUEST,
        functionVersion: this.viewerRequest.function.currentVersion,
        includeBody: false,
      },
    ];
    const roles = edgeFunctionRoles(config);
    if (roles.includes('viewer-response')) {
      this.viewerResponse = new EdgeLambda(this, 'ViewerResponse', {
        config: bundled,
        functionName: 'edge-response',
        role: 'viewer-response',
        description: `${config.appName} RateLimit response headers (viewer response)`,
        systemLogLevel,
      });
      edgeLambdas.push({
        eventType: cloudfront.LambdaEdgeEventType.VIEWER_RESPONSE,
        functionVersion: this.viewerResponse.function.currentVersion,
      });
    }

    const existing = config.distribution?.existingDistributionId;
    if (existing === undefined) {
      this.logBucket = new s3.Bucket(this, 'AccessLogs', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        // CloudFront standard logging writes with an ACL grant.
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        lifecycleRules: [{ expiration: Duration.days(ACCESS_LOG_RETENTION_DAYS) }],
      });
      if (originHeaderEnabled(config)) this.originSecret = this.originSecretOf(config);
      this.webAcl = this.webAclOf(config);
      this.distribution = this.distributionOf(config, edgeLambdas, this.logBucket);
      this.distributionId = this.distribution.distributionId;
    } else {
      this.distributionId = existing;
      if (originHeaderEnabled(config)) this.originSecret = this.originSecretOf(config);
    }

    this.alarmTopic = new AlarmTopic(this, 'Alarms', {
      topicName: `${config.appName}-alarms-edge`,
      displayName: `${config.appName} alarms (edge)`,
      emails: config.notifications?.emails ?? [],
      httpsEndpoints: config.notifications?.httpsEndpoints ?? [],
    });
    this.alarms = new LimiterAlarms(this, 'EdgeAlarms', {
      topic: this.alarmTopic.topic,
      specs: edgeAlarmSpecs(config, this.distributionId),
    });
    this.dashboard = new EdgeDashboard(this, 'Dashboard', {
      dashboardName: `${config.appName}-edge`,
      config,
      regions: edgeWatchRegions(config),
      functions: roles,
      distributionId: this.distributionId,
      alarms: this.alarms.alarms,
      ...(this.webAcl === undefined ? {} : { webAclMetricName: webAclMetricName(config) }),
    });

    this.outputs(config);
    this.acknowledgeFindings(config);
  }

  /** The secret of the origin header: the configured one, or one generated here. */
  private originSecretOf(config: LimiterConfig): secretsmanager.ISecret {
    const id = config.originProtection?.secretId;
    if (id === undefined) {
      const secret = new secretsmanager.Secret(this, 'OriginSecret', {
        description: `${config.appName}: value of the ${originHeaderName(config)} header CloudFront sends to the origin`,
        generateSecretString: {
          passwordLength: ORIGIN_SECRET_LENGTH,
          excludePunctuation: true,
          includeSpace: false,
        },
        // The value only matters while this distribution sends it.
        removalPolicy: RemovalPolicy.DESTROY,
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'A rotation needs a redeploy of the distribution between two steps (docs/origin-protection.md); a rotation Lambda cannot do it. The origin accepts the current and the previous version meanwhile.',
      });
      return secret;
    }
    return id.startsWith('arn:')
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'OriginSecret', id)
      : secretsmanager.Secret.fromSecretNameV2(this, 'OriginSecret', id);
  }

  /** The header CloudFront adds: a dynamic reference, resolved by CloudFormation at deploy time. */
  private originHeaders(config: LimiterConfig): Record<string, string> {
    if (this.originSecret === undefined) return {};
    const versionId = config.originProtection?.secretVersionId;
    const value = SecretValue.secretsManager(this.originSecret.secretArn, {
      ...(versionId === undefined ? {} : { versionId }),
    });
    // unsafeUnwrap yields the `{{resolve:secretsmanager:…}}` reference, never the value.
    return { [originHeaderName(config)]: value.unsafeUnwrap() };
  }

  private originOf(config: LimiterConfig): cloudfront.IOrigin {
    const origin = config.origin;
    const customHeaders = this.originHeaders(config);
    const kind = origin.kind ?? 'http';
    if (kind === 's3') {
      const [bucketName, region] = s3HostParts(origin.domainName);
      const bucket = s3.Bucket.fromBucketAttributes(this, 'OriginBucket', {
        bucketName,
        ...(region === undefined ? {} : { region }),
      });
      return origins.S3BucketOrigin.withOriginAccessControl(bucket, {
        originAccessLevels: [cloudfront.AccessLevel.READ],
        customHeaders,
      });
    }
    const oac =
      kind === 'lambda-function-url'
        ? new cloudfront.FunctionUrlOriginAccessControl(this, 'OriginAccessControl', {
            description: `${config.appName}: CloudFront signs requests to ${origin.domainName}`,
            signing: cloudfront.Signing.SIGV4_ALWAYS,
          })
        : undefined;
    return new origins.HttpOrigin(origin.domainName, {
      protocolPolicy:
        origin.protocol === 'http-only'
          ? cloudfront.OriginProtocolPolicy.HTTP_ONLY
          : cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
      customHeaders,
      ...(oac === undefined ? {} : { originAccessControlId: oac.originAccessControlId }),
      ...(origin.httpPort === undefined ? {} : { httpPort: origin.httpPort }),
      ...(origin.httpsPort === undefined ? {} : { httpsPort: origin.httpsPort }),
    });
  }

  /** The web ACL with the rate-based rule, when the config asks for one. */
  private webAclOf(config: LimiterConfig): wafv2.CfnWebACL | undefined {
    const waf = config.distribution?.waf;
    if (waf === undefined) return undefined;
    const metricName = webAclMetricName(config);
    return new wafv2.CfnWebACL(this, 'WebAcl', {
      name: `${config.appName}-flood-floor`,
      description: `${config.appName}: per-IP flood floor in front of the Lambda@Edge limiter`,
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      rules: [
        {
          name: 'RequestsPerIp',
          priority: 0,
          statement: {
            rateBasedStatement: {
              limit: waf.requestsPerIp,
              aggregateKeyType: 'IP',
              evaluationWindowSec: waf.windowSeconds ?? DEFAULT_WAF_WINDOW_SECONDS,
            },
          },
          action: waf.mode === 'count' ? { count: {} } : { block: {} },
          visibilityConfig: {
            cloudWatchMetricsEnabled: true,
            metricName: `${metricName}-RequestsPerIp`,
            sampledRequestsEnabled: true,
          },
        },
      ],
      visibilityConfig: {
        cloudWatchMetricsEnabled: true,
        metricName,
        sampledRequestsEnabled: true,
      },
    });
  }

  private distributionOf(
    config: LimiterConfig,
    edgeLambdas: cloudfront.EdgeLambda[],
    logBucket: s3.Bucket,
  ): cloudfront.Distribution {
    const d = config.distribution;
    const names = d?.domainNames ?? [];
    const webAclId = this.webAcl?.attrArn ?? d?.webAclArn;
    return new cloudfront.Distribution(this, 'Distribution', {
      comment: `${config.appName}: rate-limited ${config.origin.domainName}`,
      defaultBehavior: {
        origin: this.originOf(config),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
        cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
        originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        edgeLambdas,
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      enableLogging: true,
      logBucket,
      logFilePrefix: 'cloudfront/',
      ...(names.length === 0 || d?.certificateArn === undefined
        ? {}
        : {
            domainNames: [...names],
            certificate: acm.Certificate.fromCertificateArn(this, 'Certificate', d.certificateArn),
            minimumProtocolVersion: (d.minimumProtocolVersion ??
              DEFAULT_VIEWER_TLS_POLICY) as cloudfront.SecurityPolicyProtocol,
          }),
      ...(webAclId === undefined ? {} : { webAclId }),
    });
  }

  private outputs(config: LimiterConfig): void {
    if (this.distribution !== undefined) {
      new CfnOutput(this, 'DistributionDomainName', {
        description: 'Send API traffic here',
        value: this.distribution.distributionDomainName,
      });
      new CfnOutput(this, 'DistributionArn', {
        description: 'The distribution, for origin access permissions (docs/origin-protection.md)',
        value: this.distribution.distributionArn,
      });
    }
    const version = (fn: EdgeLambda | undefined, what: string, exportSuffix: string) => {
      if (fn === undefined) return;
      new CfnOutput(this, `${exportSuffix}Arn`, {
        description: `${what}: the published version to associate with a distribution`,
        value: fn.function.currentVersion.functionArn,
        exportName: `${config.appName}-${exportSuffix}Arn`,
      });
    };
    version(this.viewerRequest, 'Viewer-request limiter', 'ViewerRequestVersion');
    version(this.viewerResponse, 'Viewer-response RateLimit headers', 'ViewerResponseVersion');
    if (this.originSecret !== undefined) {
      new CfnOutput(this, 'OriginSecretArn', {
        description: `Secret holding the value of the ${originHeaderName(config)} header the origin must require`,
        value: this.originSecret.secretArn,
      });
      new CfnOutput(this, 'OriginHeaderName', { value: originHeaderName(config) });
    }
    if (config.distribution?.existingDistributionId !== undefined) {
      Annotations.of(this).addInfo(
        `No distribution is created: associate the exported function versions with ${config.distribution.existingDistributionId} (docs/production-options.md, "An existing distribution").`,
      );
    }
  }

  /** cdk-nag findings this stack accepts, each with its reason. */
  private acknowledgeFindings(config: LimiterConfig): void {
    if (this.distribution !== undefined) {
      const findings = [
        {
          id: 'AwsSolutions-CFR1',
          reason:
            'An API for callers worldwide: no geo restriction. Add one on the distribution if the business needs it.',
        },
      ];
      if (this.webAcl === undefined && config.distribution?.webAclArn === undefined) {
        findings.push({
          id: 'AwsSolutions-CFR2',
          reason:
            'The rate limiter is this distribution’s abuse protection; distribution.waf adds a WAF rate-based rule in front of it.',
        });
      }
      if ((config.distribution?.domainNames ?? []).length === 0) {
        findings.push({
          id: 'AwsSolutions-CFR4',
          reason:
            'Without distribution.domainNames the distribution serves the default *.cloudfront.net certificate, whose TLS policy CloudFront fixes; with them, the configured policy (TLSv1.2_2021 by default) applies.',
        });
      }
      Validations.of(this.distribution).acknowledge(...findings);
    }
    if (this.logBucket !== undefined) {
      Validations.of(this.logBucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason: 'This bucket receives the access logs; logging its own access would loop.',
      });
    }
  }
}

/** The CloudWatch metric name of the web ACL. */
export function webAclMetricName(config: LimiterConfig): string {
  return `${config.appName}FloodFloor`;
}

/** Bucket name and region of an S3 origin host (`<bucket>.s3.<region>.amazonaws.com`). */
function s3HostParts(host: string): [string, string | undefined] {
  const match = /^(.+)\.s3\.(?:([a-z0-9-]+)\.)?amazonaws\.com$/.exec(host.toLowerCase());
  if (match?.[1] === undefined) throw new RangeError(`${host} is not an S3 bucket host`);
  return [match[1], match[2]];
}

/** Properties of {@link EdgeLambda}. */
interface EdgeLambdaProps {
  readonly config: LimiterConfig;
  readonly functionName: FunctionName;
  readonly role: EdgeFunctionRole;
  readonly description: string;
  /** Lambda's own log records the function keeps (`edgeSystemLogLevel`). */
  readonly systemLogLevel: EdgeSystemLogLevel;
}

/**
 * How a Lambda@Edge function logs: Lambda's JSON format, which log-level
 * filtering needs (AWS Lambda Developer Guide, "Log-level filtering"; the
 * CloudFront Developer Guide, "Edge function logs", lists both the formats
 * and the filtering among what Lambda@Edge supports besides a custom log
 * group).
 * - System logs at `systemLogLevel`: at WARN (the default) Lambda sends none
 *   of its start and report records, only warnings; INFO, Lambda's own
 *   default, sends both for every invocation.
 * - Application logs at INFO, always: the EMF lines (functions/shared/
 *   metrics.ts) are JSON written to stdout without a `level` key, which
 *   Lambda counts as INFO; a higher level would drop the metrics and blind the
 *   alarms. The handlers' `console.error` lines become JSON records at level
 *   ERROR, their JSON text in `message`.
 */
export function edgeLogging(
  systemLogLevel: EdgeSystemLogLevel,
): Pick<lambda.FunctionProps, 'loggingFormat' | 'systemLogLevelV2' | 'applicationLogLevelV2'> {
  return {
    loggingFormat: lambda.LoggingFormat.JSON,
    systemLogLevelV2: SYSTEM_LOG_LEVELS[systemLogLevel],
    applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
  };
}

const SYSTEM_LOG_LEVELS: Readonly<Record<EdgeSystemLogLevel, lambda.SystemLogLevel>> = {
  WARN: lambda.SystemLogLevel.WARN,
  INFO: lambda.SystemLogLevel.INFO,
  DEBUG: lambda.SystemLogLevel.DEBUG,
};

/**
 * A Lambda@Edge function from the local esbuild bundle, with a fixed name and
 * a role that may write its logs in every region it runs in (Lambda@Edge logs
 * to `/aws/lambda/us-east-1.<name>` in the region that served the request).
 */
export class EdgeLambda extends Construct {
  readonly function: cloudfront.experimental.EdgeFunction;
  readonly role: iam.Role;
  readonly functionName: string;
  /** The bundle's module file (what Lambda@Edge runs). */
  readonly bundleFile: string;

  constructor(scope: Construct, id: string, props: EdgeLambdaProps) {
    super(scope, id);
    const bundle = functionBundle(props.functionName, props.config);
    this.bundleFile = bundle.built.file;
    this.functionName = edgeFunctionName(props.config, props.role);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    this.function = new cloudfront.experimental.EdgeFunction(this, 'Function', {
      functionName: this.functionName,
      description: props.description,
      runtime: EDGE_RUNTIME,
      // Lambda@Edge runs x86_64 only.
      architecture: lambda.Architecture.X86_64,
      code: bundle.code,
      handler: bundle.handler,
      memorySize: EDGE_MEMORY_MB,
      timeout: Duration.seconds(EDGE_TIMEOUT_SECONDS),
      role: this.role,
      ...edgeLogging(props.systemLogLevel),
    });
    suppressCfnLint(this.function.lambda, LAMBDA_ROLE_DEPENDENCY);
    const stack = Stack.of(this);
    const logGroup = `arn:${PARTITION}:logs:*:${stack.account}:log-group:/aws/lambda/${EDGE_REGION}.${this.functionName}:*`;
    // A separate policy: the role's default policy must exist before the
    // function, and this statement is about the function's logs only.
    const logs = new iam.Policy(this, 'Logs', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({
          sid: 'EdgeLogsInEveryRegion',
          actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup],
        }),
      ],
    });
    Validations.of(logs).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${logGroup}]`,
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
