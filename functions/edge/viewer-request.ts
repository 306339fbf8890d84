/**
 * The viewer-request decision, with its dependencies passed in: event in,
 * one limiter call (for every limit of the matched rule), response out. handler.ts wires the container's real
 * limiter; tests pass a limiter on an in-memory store.
 *
 * Everything that is policy (allow and deny lists, shadow mode, caches,
 * leases, time budget, failure modes) lives in the shared {@link Limiter};
 * this module only turns a CloudFront request into a limiter request and the
 * limiter's answer into CloudFront's.
 *
 * Answers, in order:
 * - every `x-ratelimit-*` header the viewer sent is removed, whatever follows,
 *   so the origin can trust the ones it receives;
 * - no rule matches (and no default rule): the request goes on unchanged;
 * - no usable key for a limit with `onMissingKey: 'reject'`: 401;
 * - denylisted by any limit: 403; refused by any: 429 (`Retry-After` of the
 *   refusing limit, none of the limits charged); store down with
 *   `onStoreError: 'closed'`: 503;
 * - otherwise the request goes on with the decision headers (shadow policies
 *   add `x-ratelimit-shadow`, failure modes `x-ratelimit-fallback`).
 *
 * An unexpected limiter failure (a bug, not a store error: those are the
 * limiter's to handle) is logged, and the failure modes answer it like a
 * store failure of the policy (functions/limiter/failure-modes.ts): `closed`
 * answers 503, `open` and `local` forward with `x-ratelimit-fallback: error`.
 * A viewer request never fails because of it.
 */
import type {
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontRequestResult,
} from 'aws-lambda';
import { resolvePolicy } from '../config/resolve';
import { DEFAULT_MAX_KEY_LENGTH } from '../limiter/bucket-id';
import { LimitRequestError } from '../limiter/errors';
import { unexpectedFailureResult } from '../limiter/failure-modes';
import type { LimitRequest, LimitResult, MultiLimitResult } from '../limiter/types';
import { ORIGIN_HEADER_PREFIX, stripHeadersWithPrefix } from './cf-headers';
import { ipKey } from './client-ip';
import { costOf } from './request-cost';
import { buildKey, type KeyOutcome, UNKNOWN_IP_KEY } from './request-key';
import {
  addOriginHeaders,
  ambiguousRequest,
  forbidden,
  limiterUnavailable,
  missingKey,
  tooManyRequests,
} from './responses';
import { type CompiledRule, type CompiledRules, matchInputOf, matchRule } from './rule-match';

/** The part of the limiter the edge uses. */
export interface EdgeLimiter {
  limitAll(requests: readonly LimitRequest[]): Promise<MultiLimitResult>;
}

/** One structured log line (CloudWatch Logs of the region the function ran in). */
export type EdgeLog = (entry: Readonly<Record<string, unknown>>) => void;

/** What a viewer-request handler is built from. */
export interface ViewerRequestOptions {
  readonly rules: CompiledRules;
  readonly limiter: EdgeLimiter;
  /** Longest key, in characters. @default 256 */
  readonly maxKeyLength?: number;
  /** Milliseconds since the epoch (the 429 body's `retryAt`). @default Date.now */
  readonly clock?: () => number;
  /** Unexpected failures and bad events. @default console.error as JSON */
  readonly log?: EdgeLog;
}

/** The event is not a CloudFront viewer-request event. */
export class EdgeEventError extends Error {
  override readonly name = 'EdgeEventError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A viewer-request handler. */
export type ViewerRequestHandler = (
  event: CloudFrontRequestEvent,
) => Promise<CloudFrontRequestResult>;

/** Builds the viewer-request handler. */
export function createViewerRequestHandler(options: ViewerRequestOptions): ViewerRequestHandler {
  const maxKeyLength = options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH;
  const clock = options.clock ?? Date.now;
  const log: EdgeLog = options.log ?? ((entry) => console.error(JSON.stringify(entry)));

  return async (event) => {
    const request = event?.Records?.[0]?.cf?.request;
    if (request === undefined || typeof request !== 'object' || request.headers === undefined) {
      throw new EdgeEventError(
        'not a CloudFront viewer-request event: Records[0].cf.request is missing',
      );
    }
    stripHeadersWithPrefix(request.headers, ORIGIN_HEADER_PREFIX);

    const target = matchInputOf(request);
    if (target.kind === 'refused') return ambiguousRequest(target.problem);
    const matched = matchRule(options.rules, target.input);
    if (matched === undefined) return request;

    const keyInput = {
      headers: request.headers,
      querystring: request.querystring ?? '',
      clientIp: request.clientIp,
    };
    const keys: Extract<KeyOutcome, { kind: 'key' }>[] = [];
    for (const { limit } of matched.limits) {
      const key = buildKey(limit, keyInput, maxKeyLength);
      if (key.kind === 'reject') return missingKey(matched.rule.id, key.problem);
      keys.push(key);
    }
    const requests = matched.limits.map(
      ({ limit, policy }, i): LimitRequest => ({
        policyId: policy.id,
        key: (keys[i] as Extract<KeyOutcome, { kind: 'key' }>).key,
        costTokens: costOf(limit.cost, request).costTokens,
      }),
    );

    let result: MultiLimitResult;
    try {
      result = await limitOnce(options.limiter, matched, requests, request);
    } catch (error) {
      if (
        error instanceof LimitRequestError &&
        error.field === 'key' &&
        matched.limits[error.limitIndex ?? 0]?.limit.onMissingKey === 'reject'
      ) {
        return missingKey(matched.rule.id, { part: 'key', reason: 'too-long' });
      }
      log({
        level: 'error',
        message: 'limiter failed',
        rule: matched.rule.id,
        policies: matched.limits.map((l) => l.policy.id),
        error: describe(error),
      });
      // The failure modes decide, as for a store failure: a viewer never fails for it.
      result = unexpectedFailure(matched, requests, clock());
    }
    return shape(result, request, clock());
  };
}

/**
 * One limiter call for every limit; a key the limiter itself refuses (too
 * long once normalised) is retried once as the viewer's IP, when that
 * limit falls back to the IP.
 */
async function limitOnce(
  limiter: EdgeLimiter,
  matched: CompiledRule,
  requests: readonly LimitRequest[],
  request: CloudFrontRequest,
): Promise<MultiLimitResult> {
  try {
    return await limiter.limitAll(requests);
  } catch (error) {
    const i = error instanceof LimitRequestError ? (error.limitIndex ?? 0) : -1;
    if (
      !(error instanceof LimitRequestError) ||
      error.field !== 'key' ||
      matched.limits[i]?.limit.onMissingKey === 'reject'
    ) {
      throw error;
    }
    const ip = ipKey(request.clientIp) ?? UNKNOWN_IP_KEY;
    return limiter.limitAll(requests.map((r, j) => (j === i ? { ...r, key: ip } : r)));
  }
}

/** Every limit's failure mode, when the limiter failed for a reason that is not the store's. */
function unexpectedFailure(
  matched: CompiledRule,
  requests: readonly LimitRequest[],
  nowMs: number,
): MultiLimitResult {
  const results: LimitResult[] = matched.limits.map(({ policy }, i) =>
    unexpectedFailureResult(resolvePolicy(policy), requests[i]?.costTokens ?? 1, nowMs),
  );
  const refused = results.findIndex((r) => !r.allowed);
  return { allowed: refused < 0, results, decidedBy: Math.max(0, refused) };
}

function shape(
  multi: MultiLimitResult,
  request: CloudFrontRequest,
  nowMs: number,
): CloudFrontRequestResult {
  const decided = multi.results[multi.decidedBy] as LimitResult;
  if (!multi.allowed) {
    if (decided.source === 'denylist') return forbidden(decided.policy);
    return decided.source === 'fallback' && decided.fallback === 'closed'
      ? limiterUnavailable(decided)
      : tooManyRequests(multi, nowMs);
  }
  addOriginHeaders(request.headers, multi);
  return request;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
