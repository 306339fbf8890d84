/**
 * What the edge sends: the decision headers added to a forwarded request, and
 * the responses it generates itself (429, 403, 401, 400, 503).
 *
 * Why the origin gets `x-ratelimit-*` request headers and the client gets
 * `RateLimit` response headers through a second function: a viewer-request
 * function can change the request or answer in its place, never add headers
 * to the origin's response. The viewer-response function
 * (response-handler.ts) sees the request *as modified here* and copies the
 * decision into the response (see that file for why it is Lambda@Edge and not
 * a CloudFront Function). Generated responses carry their headers directly:
 * CloudFront runs no viewer-response function on them.
 *
 * Generated bodies are small JSON documents, far below CloudFront's 40 KB
 * limit on generated responses, and never cached (`Cache-Control: no-store`).
 */
import type { CloudFrontHeaders, CloudFrontResultResponse } from 'aws-lambda';
import type { LimitResult, MultiLimitResult } from '../limiter/types';
import { JSON_HEADERS, type ProblemBody } from '../shared/http';
import {
  multiRateLimitHeaders,
  RATE_LIMIT_HEADERS,
  rateLimitList,
  rateLimitPolicyList,
  rateLimitPolicyValue,
  retryAfterSeconds,
  secondsCeil,
  visibleResults,
} from '../shared/ratelimit-headers';
import { setHeader } from './cf-headers';
import type { KeyProblem } from './request-key';
import type { AmbiguousRequest } from './rule-match';

/**
 * Request headers the origin receives with every limited request. With
 * several limits, `limit`, `remaining`, `reset` and `retryAfter` describe the
 * one closest to refusing (the least share of its capacity left), and
 * `policy` and `state` list every enforced one.
 */
export const ORIGIN_HEADERS = {
  /** The bucket's capacity. */
  limit: 'x-ratelimit-limit',
  /** Whole tokens left after this request. */
  remaining: 'x-ratelimit-remaining',
  /** Seconds until the bucket is full again. */
  reset: 'x-ratelimit-reset',
  /** Seconds until one more request of the same cost would be admitted (`t=` of `RateLimit`). */
  retryAfter: 'x-ratelimit-retry-after',
  /** The policies, in `RateLimit-Policy` syntax: `"api";q=100;w=2, "api-ip";q=20;w=20`. */
  policy: 'x-ratelimit-policy',
  /** The enforced limits' state, in `RateLimit` syntax: `"api";r=40;t=0, "api-ip";r=7;t=0`. */
  state: 'x-ratelimit-state',
  /** Shadow policies only: `would-allow` or `would-refuse`. */
  shadow: 'x-ratelimit-shadow',
  /** Set when a failure mode decided (`open`, `local`; `error` when the limiter itself failed). */
  fallback: 'x-ratelimit-fallback',
} as const;

/** Value of {@link ORIGIN_HEADERS.shadow} when the policy would have refused. */
export const SHADOW_WOULD_REFUSE = 'would-refuse';

/** Largest response CloudFront accepts from a viewer-request function. */
export const MAX_GENERATED_RESPONSE_BYTES = 40 * 1024;

/**
 * Adds the decision headers for the origin to a request's headers (after the
 * viewer's own `x-ratelimit-*` headers were stripped).
 */
export function addOriginHeaders(headers: CloudFrontHeaders, multi: MultiLimitResult): void {
  const visible = visibleResults(multi.results);
  const closest = closestToRefusing(visible.length > 0 ? visible : multi.results);
  const pairs: [name: string, displayName: string, value: string][] = [
    [ORIGIN_HEADERS.limit, 'X-RateLimit-Limit', String(Math.floor(closest.limitTokens))],
    [
      ORIGIN_HEADERS.remaining,
      'X-RateLimit-Remaining',
      String(Math.max(0, Math.floor(closest.remainingTokens))),
    ],
    [ORIGIN_HEADERS.reset, 'X-RateLimit-Reset', String(secondsCeil(closest.resetAfterMs))],
    [
      ORIGIN_HEADERS.retryAfter,
      'X-RateLimit-Retry-After',
      String(secondsCeil(closest.retryAfterMs)),
    ],
    [
      ORIGIN_HEADERS.policy,
      'X-RateLimit-Policy',
      visible.length > 0 ? rateLimitPolicyList(visible) : rateLimitPolicyValue(closest),
    ],
  ];
  if (visible.length > 0) {
    pairs.push([ORIGIN_HEADERS.state, 'X-RateLimit-State', rateLimitList(visible)]);
  }
  const shadows = multi.results.filter((r) => r.shadow !== undefined);
  if (shadows.length > 0) {
    const verdict = shadows.every((r) => r.shadow?.wouldAllow)
      ? 'would-allow'
      : SHADOW_WOULD_REFUSE;
    pairs.push([ORIGIN_HEADERS.shadow, 'X-RateLimit-Shadow', verdict]);
  }
  const fallback = multi.results.find((r) => r.source === 'fallback' && r.fallback !== undefined);
  if (fallback !== undefined) {
    // A failure of the limiter itself is marked `error`, whichever mode answered it.
    const value = fallback.fallbackCause === 'internal' ? 'error' : (fallback.fallback as string);
    pairs.push([ORIGIN_HEADERS.fallback, 'X-RateLimit-Fallback', value]);
  }
  for (const [name, displayName, value] of pairs) setHeader(headers, name, displayName, value);
}

/** The limit with the least share of its capacity left (the first of equals). */
function closestToRefusing(results: readonly LimitResult[]): LimitResult {
  let closest = results[0] as LimitResult;
  for (const r of results) {
    if (r.remainingTokens / r.limitTokens < closest.remainingTokens / closest.limitTokens) {
      closest = r;
    }
  }
  return closest;
}

function jsonResponse(
  status: number,
  statusDescription: string,
  body: ProblemBody & Record<string, unknown>,
  extra: Readonly<Record<string, string>> = {},
): CloudFrontResultResponse {
  const headers: CloudFrontHeaders = {};
  setHeader(headers, 'content-type', 'Content-Type', JSON_HEADERS['content-type']!);
  setHeader(headers, 'cache-control', 'Cache-Control', JSON_HEADERS['cache-control']!);
  for (const [name, value] of Object.entries(extra)) setHeader(headers, name, name, value);
  return {
    status: String(status),
    statusDescription,
    headers,
    bodyEncoding: 'text',
    body: JSON.stringify(body),
  };
}

/**
 * The 429 answer: `Retry-After` (from the refusing limit), `RateLimit` and
 * `RateLimit-Policy` (every enforced limit decided), and a JSON body saying
 * which policy refused and when to retry.
 */
export function tooManyRequests(multi: MultiLimitResult, nowMs: number): CloudFrontResultResponse {
  const refused = multi.results[multi.decidedBy] as LimitResult;
  const seconds = retryAfterSeconds(refused);
  return jsonResponse(
    429,
    'Too Many Requests',
    {
      error: 'rate_limited',
      message: `Rate limit of policy "${refused.policy}" exceeded; retry after ${seconds} s.`,
      policy: refused.policy,
      retryAfterSeconds: seconds,
      retryAt: new Date(nowMs + seconds * 1000).toISOString(),
    },
    multiRateLimitHeaders(multi),
  );
}

/** The 503 answer of the `closed` failure mode: the limiter could not decide, the caller is not over its limit. */
export function limiterUnavailable(result: LimitResult): CloudFrontResultResponse {
  const seconds = retryAfterSeconds(result);
  return jsonResponse(
    503,
    'Service Unavailable',
    {
      error: 'limiter_unavailable',
      message: 'The rate limiter cannot decide right now; retry shortly.',
      policy: result.policy,
      retryAfterSeconds: seconds,
    },
    { [RATE_LIMIT_HEADERS.retryAfter]: String(seconds) },
  );
}

/** The 403 answer to a denylisted key. */
export function forbidden(policy: string): CloudFrontResultResponse {
  return jsonResponse(403, 'Forbidden', {
    error: 'forbidden',
    message: 'This client may not call this API.',
    policy,
  });
}

/** The 401 answer of a rule with `onMissingKey: 'reject'`, naming the missing part. */
export function missingKey(rule: string, problem: KeyProblem): CloudFrontResultResponse {
  return jsonResponse(
    401,
    'Unauthorized',
    {
      error: 'missing_key',
      message: `A usable ${problem.part} is required (${problem.reason}).`,
      rule,
      part: problem.part,
      reason: problem.reason,
    },
    // RFC 9110 asks every 401 for a challenge; tokens get Bearer, other keys a descriptive scheme.
    {
      'WWW-Authenticate': problem.part.startsWith('jwt ')
        ? 'Bearer realm="api"'
        : 'ApiKey realm="api"',
    },
  );
}

/** What each refusal of an ambiguous request says. */
const AMBIGUITY_MESSAGES: Readonly<Record<AmbiguousRequest['reason'], string>> = {
  'control-character': 'The path holds a control character (such as %00).',
  'malformed-escape': 'The path holds a "%" that is not followed by two hex digits.',
  'dot-segment': 'The path holds a segment of dots and spaces other than "." and "..".',
  'separator-in-params': 'The path holds an encoded "/" or "\\" inside ";" parameters.',
  'several-host-lines': 'The request carries more than one Host header.',
  'invalid-host': 'The Host header is not a host name or address with an optional port.',
};

/**
 * The 400 answer to a request whose path or host can be read more than one
 * way (rule-match.ts `matchInputOf`): origins would disagree on what it asks
 * for, so no rule can be said to apply.
 */
export function ambiguousRequest(problem: AmbiguousRequest): CloudFrontResultResponse {
  return jsonResponse(400, 'Bad Request', {
    error: 'ambiguous_request',
    message: `${AMBIGUITY_MESSAGES[problem.reason]} It is refused because servers read it differently.`,
    part: problem.part,
    reason: problem.reason,
  });
}

/** Size of a generated response as CloudFront counts it: status line, headers and body. */
export function generatedResponseBytes(response: CloudFrontResultResponse): number {
  let bytes = Buffer.byteLength(
    `HTTP/1.1 ${response.status} ${response.statusDescription ?? ''}\r\n`,
  );
  for (const lines of Object.values(response.headers ?? {})) {
    for (const line of lines) bytes += Buffer.byteLength(`${line.key ?? ''}: ${line.value}\r\n`);
  }
  return bytes + Buffer.byteLength(response.body ?? '');
}
