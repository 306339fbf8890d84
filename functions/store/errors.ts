/**
 * Maps transport errors (the SDK's, the light edge transport's and Node's
 * network errors; transport.ts states their shape) onto the store's domain
 * errors, in one place, so the limiter's failure modes depend on a small
 * closed set of kinds (conflict, throttled, timeout, unavailable, invalid)
 * and never on SDK class names. Unknown errors count as `unavailable`: a
 * failure mode must decide, not crash the request.
 */

import type { CallSignal } from './call-signal';
import { StoreError, type StoreErrorKind } from './types';

const THROTTLED = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);
const TIMEOUT = new Set([
  'AbortError',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);
const INVALID = new Set([
  'ValidationException',
  'ResourceNotFoundException',
  'SerializationException',
  'ItemCollectionSizeLimitExceededException',
  'AccessDeniedException',
  'UnrecognizedClientException',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);

/** The name of a failed condition (the adapter turns it into a conflict). */
export const CONDITIONAL_CHECK_FAILED = 'ConditionalCheckFailedException';

/** The name a retryable MRSC write conflict carries (strong mode). */
export const REPLICATED_WRITE_CONFLICT = 'ReplicatedWriteConflictException';

interface ErrorLike {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

/** The kind of a failed store call. Conflicts are recognised by the adapter, not here. */
export function storeErrorKindOf(error: unknown): Exclude<StoreErrorKind, 'conflict'> {
  if (typeof error !== 'object' || error === null) return 'unavailable';
  const e = error as ErrorLike;
  const name = typeof e.name === 'string' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : '';
  if (THROTTLED.has(name) || name === REPLICATED_WRITE_CONFLICT) return 'throttled';
  if (TIMEOUT.has(name) || TIMEOUT_CODES.has(code)) return 'timeout';
  if (INVALID.has(name)) return 'invalid';
  if (NETWORK_CODES.has(code)) return 'unavailable';
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number') {
    if (status === 429) return 'throttled';
    if (status >= 500) return 'unavailable';
    if (status >= 400 && e.$fault === 'client') return 'invalid';
  }
  return 'unavailable';
}

/** Wraps any error of a store call as a {@link StoreError} (a StoreError passes through). */
export function toStoreError(error: unknown, operation: string): StoreError {
  if (error instanceof StoreError) return error;
  const kind = storeErrorKindOf(error);
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new StoreError(`${operation} failed (${kind}): ${detail}`, kind, { cause: error });
}

/**
 * Runs one store call under `signal`: an already aborted signal sends nothing
 * and rejects with a `timeout` {@link StoreError}; any failure of the call is
 * mapped by {@link toStoreError}.
 */
export function storeCall<T>(
  operation: string,
  signal: CallSignal | undefined,
  call: () => Promise<T>,
): Promise<T> {
  if (signal?.aborted === true) {
    return Promise.reject(
      new StoreError(`${operation} not started: the time budget is spent`, 'timeout', {
        cause: signal.reason,
      }),
    );
  }
  // A promise chain rather than an async function: one promise less per read.
  let running: Promise<T>;
  try {
    running = Promise.resolve(call());
  } catch (error) {
    return Promise.reject(toStoreError(error, operation));
  }
  return running.then(undefined, (error: unknown) => {
    throw toStoreError(error, operation);
  });
}
