/**
 * The viewer-request decision, with its dependencies passed in: event in,
 * one limiter call, response out. handler.ts wires the container's real
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
 * - no usable key and `onMissingKey: 'reject'`: 401;
 * - denylisted: 403; refused: 429; store down with `onStoreError: 'closed'`: 503;
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
import type { LimitRequest, LimitResult } from '../limiter/types';
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
  limit(request: LimitRequest): Promise<LimitResult>;
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

    const key = buildKey(
      matched.rule,
      {
        headers: request.headers,
        querystring: request.querystring ?? '',
        clientIp: request.clientIp,
      },
      maxKeyLength,
    );
    if (key.kind === 'reject') return missingKey(matched.rule.id, key.problem);
    const { costTokens } = costOf(matched.rule.cost, request);

    let result: LimitResult;
    try {
      result = await limitOnce(options.limiter, matched, key, costTokens, request);
    } catch (error) {
      if (
        error instanceof LimitRequestError &&
        error.field === 'key' &&
        matched.rule.onMissingKey === 'reject'
      ) {
        return missingKey(matched.rule.id, { part: 'key', reason: 'too-long' });
      }
      log({
        level: 'error',
        message: 'limiter failed',
        rule: matched.rule.id,
        policy: matched.policy.id,
        error: describe(error),
      });
      // The failure modes decide, as for a store failure: a viewer never fails for it.
      result = unexpectedFailureResult(resolvePolicy(matched.policy), costTokens);
    }
    return shape(result, request, clock());
  };
}

/** One limiter call; a key the limiter itself refuses is retried once as the viewer's IP. */
async function limitOnce(
  limiter: EdgeLimiter,
  matched: CompiledRule,
  key: Extract<KeyOutcome, { kind: 'key' }>,
  costTokens: number,
  request: CloudFrontRequest,
): Promise<LimitResult> {
  const call = (k: string) => limiter.limit({ policyId: matched.policy.id, key: k, costTokens });
  try {
    return await call(key.key);
  } catch (error) {
    if (
      !(error instanceof LimitRequestError) ||
      error.field !== 'key' ||
      matched.rule.onMissingKey === 'reject'
    ) {
      throw error;
    }
    return call(ipKey(request.clientIp) ?? UNKNOWN_IP_KEY);
  }
}

function shape(
  result: LimitResult,
  request: CloudFrontRequest,
  nowMs: number,
): CloudFrontRequestResult {
  if (result.source === 'denylist') return forbidden(result.policy);
  if (!result.allowed) {
    return result.source === 'fallback' && result.fallback === 'closed'
      ? limiterUnavailable(result)
      : tooManyRequests(result, nowMs);
  }
  addOriginHeaders(request.headers, result);
  return request;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
