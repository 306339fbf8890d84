/**
 * Parsing the regional API's input into a {@link LimitRequest}: the JSON body
 * of `POST /v1/limit` and the query of `GET /v1/limit`.
 *
 * Only the *shape* is checked here (size, JSON, types, unknown fields). The
 * limiter checks the *meaning* (known policy, key length, cost within
 * capacity) before any store call and throws LimitRequestError, so both
 * layers together guarantee that bad input never reaches the store, and the
 * rules live in one place each.
 */
import type { LimitRequest } from '../limiter/types';

/** Largest accepted request body (bytes). */
export const MAX_BODY_BYTES = 4096;

/** Largest accepted cost literal, before the policy's own bound applies. */
const MAX_COST_DIGITS = 15;

/** Fields of the `POST /v1/limit` body. */
const BODY_FIELDS = new Set(['policy', 'key', 'cost']);

/** A request the API refuses with 400; `message` names the problem. */
export class BadRequestError extends Error {
  override readonly name = 'BadRequestError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Parses the body of `POST /v1/limit`: `{ "policy": string, "key": string, "cost"?: integer }`.
 *
 * @throws {@link BadRequestError} for an oversized body, invalid JSON, a body
 *   that is not an object, a missing or mistyped field, or an unknown field.
 */
export function parseLimitBody(body: string | undefined, isBase64Encoded: boolean): LimitRequest {
  if (body === undefined || body.length === 0) {
    throw new BadRequestError(
      'the body must be a JSON object: {"policy": "...", "key": "...", "cost": 1}',
    );
  }
  // A base64 body of n bytes has about 4n/3 characters: refuse obvious giants before decoding.
  if (body.length > MAX_BODY_BYTES * 2) throw oversized();
  const raw = isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
  if (raw.byteLength > MAX_BODY_BYTES) throw oversized();
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw new BadRequestError('the body is not valid JSON', { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BadRequestError('the body must be a JSON object');
  }
  const fields = parsed as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!BODY_FIELDS.has(name)) {
      throw new BadRequestError(
        `unknown field "${name.slice(0, 40)}": expected policy, key and cost`,
      );
    }
  }
  return {
    policyId: requiredString(fields.policy, 'policy'),
    key: requiredString(fields.key, 'key'),
    costTokens: costOf(fields.cost),
  };
}

/**
 * Parses the query of `GET /v1/limit?policy=&key=&cost=`.
 *
 * @throws {@link BadRequestError} for a missing policy or key, or a cost that is not a positive integer.
 */
export function parseLimitQuery(
  query: Readonly<Record<string, string | undefined>> | undefined,
): LimitRequest {
  const params = query ?? {};
  for (const name of Object.keys(params)) {
    if (!BODY_FIELDS.has(name)) {
      throw new BadRequestError(
        `unknown query parameter "${name.slice(0, 40)}": expected policy, key and cost`,
      );
    }
  }
  const cost = params.cost;
  if (cost !== undefined && !new RegExp(`^[0-9]{1,${MAX_COST_DIGITS}}$`).test(cost)) {
    throw new BadRequestError('cost must be a positive integer');
  }
  return {
    policyId: requiredString(params.policy, 'policy'),
    key: requiredString(params.key, 'key'),
    costTokens: cost === undefined ? 1 : Number(cost),
  };
}

function requiredString(value: unknown, name: string): string {
  if (value === undefined || value === null || value === '')
    throw new BadRequestError(`${name} is required`);
  if (typeof value !== 'string') throw new BadRequestError(`${name} must be a string`);
  return value;
}

function costOf(value: unknown): number {
  if (value === undefined) return 1;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new BadRequestError('cost must be a positive integer');
  }
  return value;
}

function oversized(): BadRequestError {
  return new BadRequestError(`the body is larger than ${MAX_BODY_BYTES} bytes`);
}
