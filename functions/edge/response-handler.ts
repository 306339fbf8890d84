/**
 * Lambda@Edge **viewer-response** function: gives the client the `RateLimit`
 * and `RateLimit-Policy` headers of the decision the viewer-request function
 * took for this request.
 *
 * Why this mechanism:
 * - a viewer-request function cannot add headers to the origin's response;
 * - the viewer-response event carries `request` *as modified by the
 *   viewer-request function* (CloudFront developer guide, "Lambda@Edge event
 *   structure", response events), so the `x-ratelimit-*` headers added there
 *   are readable here even when the origin does not echo them, and on cache
 *   hits too (viewer triggers run on every request);
 * - a CloudFront Function would be cheaper, but CloudFront Functions and
 *   Lambda@Edge cannot be combined on the viewer events of one cache
 *   behaviour, and the limiter must be Lambda@Edge (it calls DynamoDB);
 * - an origin-response trigger would also see origin errors, but it does not
 *   run on cache hits and its headers would be cached with the object.
 *
 * Limits (documented in docs/edge.md, "What the client sees"): CloudFront does not run
 * viewer-response functions when the origin answers 400 or more, so such
 * responses reach the client without `RateLimit` headers (the origin still
 * got the decision headers and may copy them itself); responses generated
 * by the viewer-request function (429, 403, 401, 503) carry their own
 * headers. Shadow policies stay invisible to clients: no headers are added.
 *
 * Only values the viewer-request function could have written are copied: the
 * viewer's own `x-ratelimit-*` headers were stripped there, and every value is
 * checked against its exact syntax here, so nothing else can be injected.
 */
import type { CloudFrontResponseEvent, CloudFrontResponseResult } from 'aws-lambda';
import { RATE_LIMIT_HEADERS, rateLimitValue } from '../shared/ratelimit-headers';
import { headerValue, setHeader } from './cf-headers';
import { ORIGIN_HEADERS } from './responses';

const POLICY = /^"([a-z0-9][a-z0-9-]{0,31})";q=\d{1,15};w=\d{1,15}$/;
const COUNT = /^\d{1,15}$/;

/** The client headers for a request's decision headers, or `undefined` when there is no (visible) decision. */
export function clientRateLimitHeaders(
  requestHeaders: Parameters<typeof headerValue>[0],
): { readonly rateLimit: string; readonly rateLimitPolicy: string } | undefined {
  if (headerValue(requestHeaders, ORIGIN_HEADERS.shadow).kind !== 'absent') return undefined;
  const policy = headerValue(requestHeaders, ORIGIN_HEADERS.policy);
  const remaining = headerValue(requestHeaders, ORIGIN_HEADERS.remaining);
  const retryAfter = headerValue(requestHeaders, ORIGIN_HEADERS.retryAfter);
  if (policy.kind !== 'single' || remaining.kind !== 'single' || retryAfter.kind !== 'single') {
    return undefined;
  }
  const name = POLICY.exec(policy.value)?.[1];
  if (name === undefined || !COUNT.test(remaining.value) || !COUNT.test(retryAfter.value)) {
    return undefined;
  }
  return {
    rateLimit: rateLimitValue({
      policy: name,
      remainingTokens: Number(remaining.value),
      retryAfterMs: Number(retryAfter.value) * 1000,
    }),
    rateLimitPolicy: policy.value,
  };
}

/**
 * The viewer-response handler: adds `RateLimit` and `RateLimit-Policy` to the
 * response (replacing any the origin sent) when the request carries a
 * decision; otherwise returns the response unchanged.
 */
export async function responseHandler(
  event: CloudFrontResponseEvent,
): Promise<CloudFrontResponseResult> {
  const record = event.Records[0]!.cf;
  const response = record.response;
  const headers = clientRateLimitHeaders(record.request?.headers);
  if (headers !== undefined) {
    setHeader(
      response.headers,
      RATE_LIMIT_HEADERS.state,
      RATE_LIMIT_HEADERS.state,
      headers.rateLimit,
    );
    setHeader(
      response.headers,
      RATE_LIMIT_HEADERS.policy,
      RATE_LIMIT_HEADERS.policy,
      headers.rateLimitPolicy,
    );
  }
  return response;
}
