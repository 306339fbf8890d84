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
 * headers. Shadow policies stay invisible to clients: the lists the
 * viewer-request function writes leave them out, and a request with only
 * shadow policies gets no headers.
 *
 * Only values the viewer-request function could have written are copied: the
 * viewer's own `x-ratelimit-*` headers were stripped there, and every value is
 * checked against its exact syntax here, so nothing else can be injected.
 */
import type { CloudFrontResponseEvent, CloudFrontResponseResult } from 'aws-lambda';
import { RATE_LIMIT_HEADERS } from '../shared/ratelimit-headers';
import { headerValue, setHeader } from './cf-headers';
import { ORIGIN_HEADERS } from './responses';

const POLICY_MEMBER = /^"[a-z0-9][a-z0-9-]{0,31}";q=\d{1,15};w=\d{1,15}$/;
const STATE_MEMBER = /^"[a-z0-9][a-z0-9-]{0,31}";r=\d{1,15};t=\d{1,15}$/;
/** Most members a list may have (a rule charges at most a handful of limits). */
const MAX_MEMBERS = 8;

/** Whether `value` is a list of up to {@link MAX_MEMBERS} members each matching `member`. */
function isList(value: string, member: RegExp): boolean {
  const members = value.split(', ');
  return members.length <= MAX_MEMBERS && members.every((m) => member.test(m));
}

/**
 * The client headers for a request's decision headers, or `undefined` when
 * there is no visible decision (no enforced limit: only shadow policies).
 * Both lists must be present once and well formed, with the same policies.
 */
export function clientRateLimitHeaders(
  requestHeaders: Parameters<typeof headerValue>[0],
): { readonly rateLimit: string; readonly rateLimitPolicy: string } | undefined {
  const policy = headerValue(requestHeaders, ORIGIN_HEADERS.policy);
  const state = headerValue(requestHeaders, ORIGIN_HEADERS.state);
  if (policy.kind !== 'single' || state.kind !== 'single') return undefined;
  if (!isList(policy.value, POLICY_MEMBER) || !isList(state.value, STATE_MEMBER)) {
    return undefined;
  }
  const names = (list: string) => list.split(', ').map((m) => m.slice(0, m.indexOf(';')));
  if (names(policy.value).join() !== names(state.value).join()) return undefined;
  return { rateLimit: state.value, rateLimitPolicy: policy.value };
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
