/**
 * Validation of the deployment settings of the config: origin protection,
 * the distribution (custom domain, WAF, an existing distribution), edge
 * monitoring, reserved concurrency and callers of the regional API, and the
 * region changes a deploy may make. `validateConfig` calls
 * {@link validateDeployment}, so these problems are listed with the others.
 *
 * Why region changes are checked here: a DynamoDB global table accepts one
 * replica added or removed per CloudFormation update, refuses to delete a
 * replica with deletion protection on, and the table stack cannot move to
 * another region. Each of those fails minutes into a deploy, after other
 * stacks may have changed; compared with the record of the last deploy
 * (`deployed`), they fail at synth instead, with the sequence that works.
 *
 * Also here, but not a validation: {@link placeholderValues} finds the example
 * values of the shipped config (account `111111111111`, `example.com`
 * addresses), which must not reach a real account but must let an offline
 * `cdk synth` pass.
 */

import type { DeployedRecord, LimiterConfig, PolicyConfig } from './schema';

/** A problem, as `validateConfig` reports it. */
interface Problem {
  readonly path: string;
  readonly message: string;
}

const REGION = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
const HOST = /^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const HEADER = /^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
const DISTRIBUTION_ID = /^E[A-Z0-9]{8,20}$/;
const CERTIFICATE_ARN = /^arn:aws:acm:us-east-1:\d{12}:certificate\/[0-9a-f-]{36}$/;
const WEB_ACL_ARN = /^arn:aws:wafv2:us-east-1:\d{12}:global\/webacl\/[\w-]{1,128}\/[0-9a-f-]{36}$/;
const SECRET_VERSION_ID = /^[A-Za-z0-9-]{32,64}$/;
const CALLER = /^(\d{12}|arn:aws:iam::\d{12}:(role|user)\/[\w+=,.@/-]{1,512})$/;
const FUNCTION_URL_HOST = /^[a-z0-9]+\.lambda-url\.[a-z]{2}(-gov)?-[a-z]+-\d\.on\.aws$/;
const S3_HOST =
  /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\.s3\.([a-z]{2}(-gov)?-[a-z]+-\d\.)?amazonaws\.com$/;

/** WAF rate-based rules count at least this many requests per window. */
export const MIN_WAF_REQUESTS_PER_IP = 10;
/** ... and at most this many. */
export const MAX_WAF_REQUESTS_PER_IP = 2_000_000_000;
/** Evaluation windows a WAF rate-based rule accepts (s). */
export const WAF_WINDOWS_SECONDS = [60, 120, 300, 600] as const;
/** TLS security policies the config accepts for viewers. */
export const VIEWER_TLS_POLICIES = ['TLSv1.2_2021', 'TLSv1.2_2025', 'TLSv1.3_2025'] as const;

/**
 * Headers CloudFront does not let an origin custom header set (it uses them
 * itself), or that would change how the request is routed or read.
 */
const RESERVED_HEADERS = new Set([
  'cache-control',
  'connection',
  'content-length',
  'cookie',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'max-forwards',
  'pragma',
  'proxy-authorization',
  'proxy-connection',
  'range',
  'request-range',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'via',
  'x-real-ip',
]);
const RESERVED_HEADER_PREFIXES = ['x-amz-', 'x-edge-', 'x-ratelimit-'];

/** Lists every problem of the deployment settings (empty when valid). */
export function validateDeployment(config: LimiterConfig): Problem[] {
  const problems: Problem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  validateOrigin(config, add);
  validateDistribution(config, add);
  validateEdgeMonitoring(config, add);
  validateRegionalApi(config, add);
  validateWatchKeys(config, add);
  validateRegionChanges(config, add);
  return problems;
}

type Add = (path: string, message: string) => void;

function validateOrigin(config: LimiterConfig, add: Add): void {
  const origin = config.origin;
  const kind = origin?.kind ?? 'http';
  if (!['http', 'lambda-function-url', 's3'].includes(kind)) {
    add('origin.kind', `must be http, lambda-function-url or s3 (got ${JSON.stringify(kind)})`);
  }
  const host = typeof origin?.domainName === 'string' ? origin.domainName.toLowerCase() : '';
  if (kind === 'lambda-function-url' && !FUNCTION_URL_HOST.test(host)) {
    add(
      'origin.domainName',
      `a lambda-function-url origin is the URL's host, <id>.lambda-url.<region>.on.aws (got ${JSON.stringify(origin?.domainName)})`,
    );
  }
  if (kind === 's3' && !S3_HOST.test(host)) {
    add(
      'origin.domainName',
      `an s3 origin is the bucket's regional host, <bucket>.s3.<region>.amazonaws.com (got ${JSON.stringify(origin?.domainName)})`,
    );
  }
  if (kind !== 'http' && origin?.protocol === 'http-only') {
    add('origin.protocol', `a ${kind} origin is reached over HTTPS only`);
  }

  const protection = config.originProtection;
  if (protection === undefined) return;
  if (protection.enabled !== undefined && typeof protection.enabled !== 'boolean') {
    add('originProtection.enabled', 'must be true or false');
  }
  const header = protection.headerName;
  if (header !== undefined) {
    if (typeof header !== 'string' || !HEADER.test(header)) {
      add('originProtection.headerName', `"${header}" must be a lower-case header name`);
    } else if (
      RESERVED_HEADERS.has(header) ||
      RESERVED_HEADER_PREFIXES.some((p) => header.startsWith(p))
    ) {
      add(
        'originProtection.headerName',
        `"${header}" is a header CloudFront or the limiter sets itself; pick another (e.g. x-origin-verify)`,
      );
    }
  }
  if (
    protection.secretId !== undefined &&
    (typeof protection.secretId !== 'string' || protection.secretId.length === 0)
  ) {
    add('originProtection.secretId', 'must name a Secrets Manager secret (name or ARN)');
  }
  if (
    protection.secretVersionId !== undefined &&
    !SECRET_VERSION_ID.test(String(protection.secretVersionId))
  ) {
    add(
      'originProtection.secretVersionId',
      `must be a Secrets Manager version id (32-64 letters, digits and dashes; got ${JSON.stringify(protection.secretVersionId)})`,
    );
  }
}

function validateDistribution(config: LimiterConfig, add: Add): void {
  const d = config.distribution;
  if (d === undefined) return;
  const names = d.domainNames ?? [];
  if (d.existingDistributionId !== undefined) {
    if (!DISTRIBUTION_ID.test(String(d.existingDistributionId))) {
      add(
        'distribution.existingDistributionId',
        `"${d.existingDistributionId}" is not a CloudFront distribution id (E followed by letters and digits)`,
      );
    }
    for (const field of ['domainNames', 'certificateArn', 'waf', 'webAclArn'] as const) {
      if (d[field] !== undefined) {
        add(
          `distribution.${field}`,
          'belongs to the existing distribution: set it there, not here (existingDistributionId is set)',
        );
      }
    }
    if ((config.origin?.kind ?? 'http') !== 'http') {
      add(
        'origin.kind',
        'with an existing distribution, configure origin access control on that distribution',
      );
    }
  }
  if (!Array.isArray(names)) {
    add('distribution.domainNames', 'must be an array of host names');
  } else {
    const seen = new Set<string>();
    names.forEach((n, i) => {
      if (typeof n !== 'string' || !HOST.test(n)) {
        add(`distribution.domainNames[${i}]`, `"${n}" is not a host name`);
      } else if (seen.has(n.toLowerCase())) {
        add(`distribution.domainNames[${i}]`, `duplicate domain name "${n}"`);
      }
      seen.add(String(n).toLowerCase());
    });
  }
  if (d.certificateArn !== undefined && !CERTIFICATE_ARN.test(String(d.certificateArn))) {
    add(
      'distribution.certificateArn',
      `must be an ACM certificate ARN in us-east-1, where CloudFront reads certificates (got ${JSON.stringify(d.certificateArn)})`,
    );
  }
  if (names.length > 0 && d.certificateArn === undefined) {
    add('distribution.certificateArn', 'domainNames need a certificate that covers them');
  }
  if (d.certificateArn !== undefined && names.length === 0) {
    add('distribution.domainNames', 'a certificate is only used with alternate domain names');
  }
  if (
    d.minimumProtocolVersion !== undefined &&
    !(VIEWER_TLS_POLICIES as readonly string[]).includes(d.minimumProtocolVersion)
  ) {
    add(
      'distribution.minimumProtocolVersion',
      `must be one of ${VIEWER_TLS_POLICIES.join(', ')} (got ${JSON.stringify(d.minimumProtocolVersion)})`,
    );
  }
  if (d.waf !== undefined) {
    const { requestsPerIp, windowSeconds, mode } = d.waf;
    if (
      !Number.isSafeInteger(requestsPerIp) ||
      requestsPerIp < MIN_WAF_REQUESTS_PER_IP ||
      requestsPerIp > MAX_WAF_REQUESTS_PER_IP
    ) {
      add(
        'distribution.waf.requestsPerIp',
        `must be an integer from ${MIN_WAF_REQUESTS_PER_IP} to ${MAX_WAF_REQUESTS_PER_IP} (got ${requestsPerIp})`,
      );
    }
    if (
      windowSeconds !== undefined &&
      !(WAF_WINDOWS_SECONDS as readonly number[]).includes(windowSeconds)
    ) {
      add(
        'distribution.waf.windowSeconds',
        `must be one of ${WAF_WINDOWS_SECONDS.join(', ')} (got ${windowSeconds})`,
      );
    }
    if (mode !== undefined && mode !== 'block' && mode !== 'count') {
      add('distribution.waf.mode', `must be block or count (got ${JSON.stringify(mode)})`);
    }
    if (d.webAclArn !== undefined) {
      add('distribution.webAclArn', 'choose one: waf (a web ACL created here) or webAclArn');
    }
  }
  if (d.webAclArn !== undefined && !WEB_ACL_ARN.test(String(d.webAclArn))) {
    add(
      'distribution.webAclArn',
      `must be the ARN of a CLOUDFRONT-scope web ACL (arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>; got ${JSON.stringify(d.webAclArn)})`,
    );
  }
}

function validateEdgeMonitoring(config: LimiterConfig, add: Add): void {
  const regions = config.edgeMonitoring?.regions;
  if (regions === undefined) return;
  if (!Array.isArray(regions)) {
    add('edgeMonitoring.regions', 'must be an array of region names');
    return;
  }
  const seen = new Set<string>();
  regions.forEach((r, i) => {
    if (typeof r !== 'string' || !REGION.test(r)) {
      add(`edgeMonitoring.regions[${i}]`, `"${r}" is not an AWS region name`);
    } else if (seen.has(r)) {
      add(`edgeMonitoring.regions[${i}]`, `duplicate region "${r}"`);
    }
    seen.add(r);
  });
}

function validateRegionalApi(config: LimiterConfig, add: Add): void {
  const api = config.regionalApi;
  if (api === undefined) return;
  (api.callers ?? []).forEach((c, i) => {
    if (typeof c !== 'string' || !CALLER.test(c)) {
      add(
        `regionalApi.callers[${i}]`,
        `"${c}" must be an IAM role or user ARN (arn:aws:iam::<account>:role/<name>) or a 12-digit account id`,
      );
    }
  });
  const reserved = api.reservedConcurrency;
  if (reserved !== undefined && !(Number.isSafeInteger(reserved) && reserved >= 1)) {
    add('regionalApi.reservedConcurrency', `must be a positive integer (got ${reserved})`);
  }
}

/** Every watched key names one depletion alarm: the same key twice would name two alarms alike. */
function validateWatchKeys(config: LimiterConfig, add: Add): void {
  const policies: readonly PolicyConfig[] = Array.isArray(config.policies) ? config.policies : [];
  policies.forEach((p, i) => {
    const seen = new Set<string>();
    (p.watchKeys ?? []).forEach((k, j) => {
      if (seen.has(k)) add(`policies[${i}].watchKeys[${j}]`, `duplicate watched key "${k}"`);
      seen.add(k);
    });
  });
}

function validateRegionChanges(config: LimiterConfig, add: Add): void {
  const regions = Array.isArray(config.regions) ? config.regions : [];
  const primary = regions[0];
  const retiring = config.retiringRegions ?? [];
  if (!Array.isArray(retiring)) {
    add('retiringRegions', 'must be an array of region names');
  } else {
    const strong = config.strong?.regions ?? [];
    const seen = new Set<string>();
    retiring.forEach((r, i) => {
      const at = `retiringRegions[${i}]`;
      if (!regions.includes(r)) {
        add(at, `"${r}" is not in regions (a retiring region keeps its replica until removed)`);
      }
      if (r === primary) {
        add(at, `"${r}" is the primary region: its replica holds the table stack and cannot go`);
      }
      if (strong.includes(r)) add(at, `"${r}" is a strong region: the strong table still uses it`);
      if (seen.has(r)) add(at, `duplicate region "${r}"`);
      seen.add(r);
    });
  }

  const deployed = config.deployed;
  if (deployed === undefined) return;
  if (!Array.isArray(deployed.regions) || deployed.regions.length === 0) {
    add('deployed.regions', 'must list the regions of the last deploy (copy regions after it)');
    return;
  }
  deployed.regions.forEach((r, i) => {
    if (!REGION.test(r)) add(`deployed.regions[${i}]`, `"${r}" is not an AWS region name`);
  });
  if (primary !== undefined && deployed.regions[0] !== primary) {
    add(
      'regions[0]',
      `the primary region was ${deployed.regions[0]} at the last deploy and cannot change: the table stack lives there (keep it first; see docs/deploying-regions.md)`,
    );
  }
  const { added, removed } = replicaChanges(regions, deployed);
  if (added.length + removed.length > 1) {
    const change = [...added.map((r) => `add ${r}`), ...removed.map((r) => `remove ${r}`)].join(
      ', ',
    );
    add(
      'regions',
      `${added.length + removed.length} replica changes since the last deploy (${change}); a global table takes one per deploy: make one, deploy, record it in deployed.regions, then the next`,
    );
  }
  const wasRetiring = new Set(deployed.retiringRegions ?? []);
  for (const r of removed) {
    if (!wasRetiring.has(r)) {
      add(
        'regions',
        `${r} was removed, but its replica still has deletion protection: first add it to retiringRegions and deploy, then remove it`,
      );
    }
  }
}

/** Replicas added and removed since the last deploy, in config order. */
export function replicaChanges(
  regions: readonly string[],
  deployed: DeployedRecord,
): { added: string[]; removed: string[] } {
  const before = new Set(deployed.regions);
  const now = new Set(regions);
  return {
    added: regions.filter((r) => !before.has(r)),
    removed: deployed.regions.filter((r) => !now.has(r)),
  };
}

/** A config value that is an example, not a real setting. */
export interface PlaceholderValue {
  readonly path: string;
  readonly value: string;
}

/** The example account of the shipped config. */
export const PLACEHOLDER_ACCOUNT = '111111111111';

/** Domains reserved for examples (RFC 2606, RFC 6761). */
const EXAMPLE_DOMAINS = /(^|\.)(example\.(com|net|org)|example|test|invalid|localhost)$/i;

/**
 * The example values of a config: the placeholder account, and addresses and
 * host names under domains reserved for examples. Synthesis accepts them (CI
 * and tests synthesize the shipped config offline); a deploy must not.
 */
export function placeholderValues(config: LimiterConfig): PlaceholderValue[] {
  const found: PlaceholderValue[] = [];
  const host = (path: string, value: unknown) => {
    if (typeof value === 'string' && EXAMPLE_DOMAINS.test(value.replace(/\.$/, ''))) {
      found.push({ path, value });
    }
  };
  if (config.account === PLACEHOLDER_ACCOUNT)
    found.push({ path: 'account', value: config.account });
  host('origin.domainName', config.origin?.domainName);
  (config.notifications?.emails ?? []).forEach((e, i) => {
    const domain = e.split('@')[1];
    if (domain !== undefined && EXAMPLE_DOMAINS.test(domain)) {
      found.push({ path: `notifications.emails[${i}]`, value: e });
    }
  });
  (config.notifications?.httpsEndpoints ?? []).forEach((u, i) => {
    const match = /^https:\/\/([^/:?#]+)/.exec(u);
    if (match?.[1] !== undefined && EXAMPLE_DOMAINS.test(match[1])) {
      found.push({ path: `notifications.httpsEndpoints[${i}]`, value: u });
    }
  });
  (config.distribution?.domainNames ?? []).forEach((n, i) => {
    host(`distribution.domainNames[${i}]`, n);
  });
  return found;
}
