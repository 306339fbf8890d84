/**
 * The rate-limit key of a request, built from the rule's key parts.
 *
 * Why these answers to bad input (each is a documented decision, see
 * docs/edge.md, "Keys"):
 * - A part is *missing* when its header, query parameter or claim is absent
 *   or empty, and *malformed* when it is longer than `maxKeyLength`, holds a
 *   control character or a non-ASCII character, starts with the reserved
 *   `ip:` prefix, or (headers and query parameters) appears several times with
 *   different values. Missing and malformed parts are handled alike, by the
 *   rule's `onMissingKey`: the viewer's IP instead (`ip`, the default) or a
 *   401 (`reject`). Nothing unbounded or ambiguous ever reaches the store.
 * - Repeated headers with different values are refused rather than reduced
 *   to the first: the origin may read the last one (or a comma-joined list),
 *   and charging one value while the origin authenticates another lets a
 *   client spend someone else's bucket and keep its own.
 * - Keys are printable ASCII only. HTTP field values are ASCII in practice
 *   (RFC 9110 treats other bytes as opaque), so there is no correct Unicode
 *   normalisation to apply; refusing them avoids look-alike buckets.
 * - JWT claims are read without verifying the signature: verifying at the
 *   edge needs the issuer's keys in the bundle or a network call per cold
 *   start. It is sound when the origin verifies the token anyway: a forged
 *   token only chooses which bucket it is charged to and never skips the
 *   limit. Its one cost: a client that knows another caller's claim value can
 *   spend that caller's bucket (as with an API key it knows).
 *
 * Key format: a one-part key is the part's value as is (so `allowKeys`,
 * `denyKeys` and `watchKeys` are written naturally: the API key, `all`,
 * `ip:203.0.113.7`); parts of a multi-part key are joined with `|`, each with
 * `\` and `|` escaped by a backslash.
 */
import type { CloudFrontHeaders } from 'aws-lambda';
import type { KeyPart, LimitConfig } from '../config/schema';
import { DEFAULT_MAX_KEY_LENGTH, normaliseKey } from '../limiter/bucket-id';
import { LimitRequestError } from '../limiter/errors';
import { headerValue } from './cf-headers';
import { IP_KEY_PREFIX, ipKey } from './client-ip';

/** Key of every viewer whose address is unknown (never the case behind CloudFront). */
export const UNKNOWN_IP_KEY = `${IP_KEY_PREFIX}unknown`;

/** Header a `jwtClaim` part reads by default. */
export const DEFAULT_JWT_HEADER = 'authorization';

/** Longest token a `jwtClaim` part decodes, in characters. */
export const MAX_JWT_CHARS = 8192;

/** The parts of a request the key is built from. */
export interface KeyInput {
  readonly headers: CloudFrontHeaders;
  /** Raw query string, without `?`, as CloudFront gives it (still URL-encoded). */
  readonly querystring: string;
  /** `request.clientIp`; may be missing in malformed events. */
  readonly clientIp: string | undefined;
}

/** Why a key part could not be used. */
export type KeyProblemReason =
  | 'missing'
  | 'conflicting'
  | 'too-long'
  | 'control-character'
  | 'non-ascii'
  | 'reserved-prefix'
  | 'malformed-token';

/** A key part that could not be used, and why. */
export interface KeyProblem {
  /** The part, e.g. `header x-api-key`, `query key`, `jwt sub`, `ip`. */
  readonly part: string;
  readonly reason: KeyProblemReason;
}

/** The outcome of building a key. */
export type KeyOutcome =
  | {
      readonly kind: 'key';
      readonly key: string;
      /** `parts`: the rule's key; `ip`: the IP fallback; `unknown-ip`: neither was available. */
      readonly source: 'parts' | 'ip' | 'unknown-ip';
      /** Why the rule's parts were not used (fallbacks only). */
      readonly problem?: KeyProblem;
    }
  /** The rule rejects requests without a usable key (401). */
  | { readonly kind: 'reject'; readonly problem: KeyProblem };

type PartOutcome =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly problem: KeyProblem };

/**
 * Builds the key of a request under `rule`, falling back to the viewer IP or
 * rejecting as `rule.onMissingKey` says.
 */
export function buildKey(
  rule: Pick<LimitConfig, 'key' | 'onMissingKey'>,
  input: KeyInput,
  maxKeyLength: number = DEFAULT_MAX_KEY_LENGTH,
): KeyOutcome {
  const values: string[] = [];
  let problem: KeyProblem | undefined;
  for (const part of rule.key) {
    const outcome = partValue(part, input, maxKeyLength);
    if (!outcome.ok) {
      problem = outcome.problem;
      break;
    }
    values.push(outcome.value);
  }
  if (problem === undefined) {
    const joined = values.length === 1 ? values[0]! : values.map(escapePart).join('|');
    try {
      return { kind: 'key', key: normaliseKey(joined, maxKeyLength), source: 'parts' };
    } catch (error) {
      if (!(error instanceof LimitRequestError)) throw error;
      problem = { part: 'key', reason: joined.trim() === '' ? 'missing' : 'too-long' };
    }
  }
  if (rule.onMissingKey === 'reject') return { kind: 'reject', problem };
  const ip = ipKey(input.clientIp);
  return ip === undefined
    ? { kind: 'key', key: UNKNOWN_IP_KEY, source: 'unknown-ip', problem }
    : { kind: 'key', key: ip, source: 'ip', problem };
}

function escapePart(value: string): string {
  return value.replace(/[\\|]/g, '\\$&');
}

function partValue(part: KeyPart, input: KeyInput, maxKeyLength: number): PartOutcome {
  if ('constant' in part) return { ok: true, value: part.constant };
  if ('ip' in part) {
    const ip = ipKey(input.clientIp);
    return ip === undefined
      ? { ok: false, problem: { part: 'ip', reason: 'missing' } }
      : { ok: true, value: ip };
  }
  if ('jwtClaim' in part)
    return jwtClaimValue(part.jwtClaim, part.header ?? DEFAULT_JWT_HEADER, input, maxKeyLength);
  if ('query' in part) {
    const name = `query ${part.query}`;
    const raw = queryValue(input.querystring, part.query, maxKeyLength);
    return raw.ok
      ? checkValue(name, raw.value, maxKeyLength)
      : { ok: false, problem: { part: name, reason: raw.reason } };
  }
  const name = `header ${part.header}`;
  const header = headerValue(input.headers, part.header);
  if (header.kind === 'absent') return { ok: false, problem: { part: name, reason: 'missing' } };
  if (header.kind === 'conflicting')
    return { ok: false, problem: { part: name, reason: 'conflicting' } };
  return checkValue(name, header.value, maxKeyLength);
}

/**
 * Bounds and checks a value taken from the request: trimmed, non-empty, at
 * most `maxKeyLength` characters of printable ASCII, not using the `ip:`
 * prefix reserved for addresses.
 */
export function checkValue(part: string, raw: string, maxKeyLength: number): PartOutcome {
  if (raw.length > maxKeyLength + 64) return { ok: false, problem: { part, reason: 'too-long' } };
  const value = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  if (value.length === 0) return { ok: false, problem: { part, reason: 'missing' } };
  if (value.length > maxKeyLength) return { ok: false, problem: { part, reason: 'too-long' } };
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
  if (/[\u0000-\u001f\u007f]/.test(value))
    return { ok: false, problem: { part, reason: 'control-character' } };
  if (/[^\u0020-\u007e]/.test(value)) return { ok: false, problem: { part, reason: 'non-ascii' } };
  if (value.toLowerCase().startsWith(IP_KEY_PREFIX))
    return { ok: false, problem: { part, reason: 'reserved-prefix' } };
  return { ok: true, value };
}

/**
 * The decoded value of query parameter `name`: absent or empty is `missing`,
 * different values under the same name `conflicting`, bad percent-encoding
 * `malformed-token`. A raw value far over the key bound is refused before it
 * is decoded.
 */
export function queryValue(
  querystring: string,
  name: string,
  maxKeyLength: number,
): { ok: true; value: string } | { ok: false; reason: KeyProblemReason } {
  let found: string | undefined;
  for (const pair of querystring.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    const decodedName = decodeQueryComponent(rawName);
    if (decodedName !== name) continue;
    const rawValue = eq === -1 ? '' : pair.slice(eq + 1);
    // Percent-encoding triples the length at most; anything beyond cannot fit the bound.
    if (rawValue.length > 3 * maxKeyLength + 64) return { ok: false, reason: 'too-long' };
    const value = decodeQueryComponent(rawValue);
    if (value === undefined) return { ok: false, reason: 'malformed-token' };
    if (found !== undefined && found !== value) return { ok: false, reason: 'conflicting' };
    found = value;
  }
  return found === undefined || found === ''
    ? { ok: false, reason: 'missing' }
    : { ok: true, value: found };
}

function decodeQueryComponent(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Claim `claim` of the JWT in header `header` (`Bearer <token>` or the bare
 * token), decoded without verifying the signature. Strings and finite
 * numbers are used; any other claim type, or a token that is not three
 * base64url parts with a JSON object payload, is `malformed-token`.
 */
export function jwtClaimValue(
  claim: string,
  header: string,
  input: KeyInput,
  maxKeyLength: number,
): PartOutcome {
  const part = `jwt ${claim}`;
  const value = headerValue(input.headers, header);
  if (value.kind === 'absent') return { ok: false, problem: { part, reason: 'missing' } };
  if (value.kind === 'conflicting') return { ok: false, problem: { part, reason: 'conflicting' } };
  if (value.value.length > MAX_JWT_CHARS)
    return { ok: false, problem: { part, reason: 'too-long' } };
  const token = value.value.trim().replace(/^bearer[ \t]+/i, '');
  const segments = token.split('.');
  const payload = segments[1];
  if (segments.length !== 3 || payload === undefined || !/^[A-Za-z0-9_-]+$/.test(payload)) {
    return { ok: false, problem: { part, reason: 'malformed-token' } };
  }
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, problem: { part, reason: 'malformed-token' } };
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    return { ok: false, problem: { part, reason: 'malformed-token' } };
  }
  if (!Object.hasOwn(claims, claim)) return { ok: false, problem: { part, reason: 'missing' } };
  const raw = (claims as Record<string, unknown>)[claim];
  if (typeof raw === 'string') return checkValue(part, raw, maxKeyLength);
  if (typeof raw === 'number' && Number.isFinite(raw))
    return checkValue(part, String(raw), maxKeyLength);
  return { ok: false, problem: { part, reason: 'malformed-token' } };
}
