/**
 * What a request costs, in whole tokens.
 *
 * Why body costs come from the *declared* size: a viewer-request function
 * sees the body only when the trigger is associated with `include-body`, and
 * even then only its first 40 KB (`inputTruncated`). The declared
 * `content-length` is what CloudFront frames the request by: the origin never
 * receives more bytes than declared, so charging by it cannot be cheated by
 * declaring less. Bad declarations get the *worst* case, never a discount:
 *
 * | `content-length`                                  | cost |
 * |---|---|
 * | valid (digits only, one value)                    | ⌈bytes / bytesPerToken⌉, clamped to [min, max] |
 * | absent, no body expected (GET, HEAD, OPTIONS, …)  | `minTokens` |
 * | absent on POST/PUT/PATCH, or `transfer-encoding` set | `maxTokens` (size unknown) |
 * | negative, fractional, non-numeric, repeated with different values | `maxTokens` |
 * | larger than `Number.MAX_SAFE_INTEGER`             | `maxTokens` |
 *
 * When the body *is* visible (include-body), the larger of the declared and
 * the observed size is used, so a declaration smaller than the body that
 * CloudFront shows us does not lower the cost.
 *
 * The config validation guarantees every configured cost is at most the
 * policy's capacity, so no request can ask for more than a bucket holds.
 */
import type { CloudFrontRequest } from 'aws-lambda';
import type { CostConfig } from '../config/schema';
import { headerValue } from './cf-headers';

/** Methods whose requests normally carry a body. */
export const BODY_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);

/** How the cost was found (tests and logs). */
export type CostBasis =
  | 'fixed'
  | 'method'
  | 'method-default'
  | 'declared-length'
  | 'observed-body'
  | 'no-body'
  | 'unknown-length'
  | 'malformed-length';

/** A cost and how it was found. */
export interface Cost {
  readonly costTokens: number;
  readonly basis: CostBasis;
}

/** The parts of a request its cost depends on. */
export type CostInput = Pick<CloudFrontRequest, 'method' | 'headers' | 'body'>;

/** The cost of a request under a rule's cost config (default: 1 token). */
export function costOf(cost: CostConfig | undefined, input: CostInput): Cost {
  if (cost === undefined) return { costTokens: 1, basis: 'fixed' };
  if ('fixed' in cost) return { costTokens: cost.fixed, basis: 'fixed' };
  if ('perMethod' in cost) {
    const perMethod = Object.hasOwn(cost.perMethod, input.method)
      ? cost.perMethod[input.method]
      : undefined;
    return perMethod === undefined
      ? { costTokens: cost.default, basis: 'method-default' }
      : { costTokens: perMethod, basis: 'method' };
  }
  const minTokens = cost.minTokens ?? 1;
  const clamp = (tokens: number) => Math.min(cost.maxTokens, Math.max(minTokens, tokens));
  const size = bodySize(input);
  switch (size.kind) {
    case 'none':
      return { costTokens: minTokens, basis: 'no-body' };
    case 'unknown':
      return { costTokens: cost.maxTokens, basis: 'unknown-length' };
    case 'malformed':
      return { costTokens: cost.maxTokens, basis: 'malformed-length' };
    default:
      return {
        costTokens: clamp(Math.ceil(size.bytes / cost.bodyBytesPerToken)),
        basis: size.kind === 'observed' ? 'observed-body' : 'declared-length',
      };
  }
}

/** What is known of a request body's size. */
export type BodySize =
  | { readonly kind: 'declared' | 'observed'; readonly bytes: number }
  | { readonly kind: 'none' | 'unknown' | 'malformed' };

/** The size a request body is charged for (see the table above). */
export function bodySize(input: CostInput): BodySize {
  const observed = observedBodyBytes(input.body);
  const declared = headerValue(input.headers, 'content-length');
  let declaredBytes: number | undefined;
  if (declared.kind === 'conflicting') return { kind: 'malformed' };
  if (declared.kind === 'single') {
    const text = declared.value.trim();
    if (!/^\d+$/.test(text)) return { kind: 'malformed' };
    declaredBytes = Number(text);
    if (!Number.isSafeInteger(declaredBytes)) return { kind: 'malformed' };
  }
  if (observed !== undefined && (declaredBytes === undefined || observed.bytes > declaredBytes)) {
    // Truncated: only a lower bound, and no declaration to trust either.
    if (observed.truncated && declaredBytes === undefined) return { kind: 'unknown' };
    return { kind: 'observed', bytes: observed.bytes };
  }
  if (declaredBytes !== undefined) return { kind: 'declared', bytes: declaredBytes };
  if (headerValue(input.headers, 'transfer-encoding').kind !== 'absent') return { kind: 'unknown' };
  return BODY_METHODS.has(input.method) ? { kind: 'unknown' } : { kind: 'none' };
}

function observedBodyBytes(
  body: CostInput['body'],
): { bytes: number; truncated: boolean } | undefined {
  if (body === undefined || typeof body.data !== 'string') return undefined;
  const bytes =
    body.encoding === 'base64'
      ? Buffer.byteLength(body.data, 'base64')
      : Buffer.byteLength(body.data, 'utf8');
  return { bytes, truncated: body.inputTruncated === true };
}
