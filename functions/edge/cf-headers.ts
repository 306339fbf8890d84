/**
 * CloudFront header maps, read and written the way Lambda@Edge expects them.
 *
 * Why a module: CloudFront hands headers over as a map from the lower-case
 * name to an *array* of `{ key, value }` (one entry per header line the
 * viewer sent). Every reader here must decide what two lines of the same
 * header mean, and every writer must keep the map shape CloudFront accepts
 * back. Doing it in one place keeps those decisions uniform.
 */
import type { CloudFrontHeaders } from 'aws-lambda';

/** Prefix of the decision headers the edge adds for the origin (and strips from viewers). */
export const ORIGIN_HEADER_PREFIX = 'x-ratelimit-';

/** What one header holds, after looking at every line the viewer sent. */
export type HeaderValue =
  | { readonly kind: 'absent' }
  | { readonly kind: 'single'; readonly value: string }
  /** Several lines with different values: nobody can tell which one the origin will use. */
  | { readonly kind: 'conflicting'; readonly values: readonly string[] };

/**
 * The value of header `name` (lower case). Repeated lines with the same value
 * count as one; repeated lines with *different* values are reported as
 * `conflicting`, never silently reduced to the first or the last.
 */
export function headerValue(headers: CloudFrontHeaders | undefined, name: string): HeaderValue {
  const lines = headers?.[name];
  if (lines === undefined || lines.length === 0) return { kind: 'absent' };
  const first = lines[0]!.value;
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]!.value !== first) {
      return { kind: 'conflicting', values: lines.map((line) => line.value) };
    }
  }
  return { kind: 'single', value: first };
}

/** Sets header `name` to exactly one line, replacing what was there. */
export function setHeader(
  headers: CloudFrontHeaders,
  name: string,
  displayName: string,
  value: string,
): void {
  headers[name.toLowerCase()] = [{ key: displayName, value }];
}

/**
 * Removes every header whose name starts with `prefix` (lower case, `-`
 * between words), whatever the case and whether words are joined by `-` or
 * `_`: CGI-style origins (PHP, WSGI, Rack) read `X_RateLimit_Limit` as
 * `X-RateLimit-Limit` (both become `HTTP_X_RATELIMIT_LIMIT`). Used on the
 * viewer's request so that a client can never send the origin a forged
 * rate-limit decision. Returns the names removed.
 */
export function stripHeadersWithPrefix(headers: CloudFrontHeaders, prefix: string): string[] {
  const removed: string[] = [];
  const wanted = prefix.toLowerCase().replaceAll('_', '-');
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase().replaceAll('_', '-').startsWith(wanted)) {
      delete headers[name];
      removed.push(name);
    }
  }
  return removed;
}

/** A header map from `[display name, value]` pairs (lower-case keys, one line each). */
export function headersOf(pairs: readonly (readonly [string, string])[]): CloudFrontHeaders {
  const headers: CloudFrontHeaders = {};
  for (const [displayName, value] of pairs) setHeader(headers, displayName, displayName, value);
  return headers;
}
