/**
 * Small HTTP helpers shared by the regional API and the edge: the JSON
 * problem shape every generated error uses, and header lookups that do not
 * care about case. Keeping one error shape means a client handles a 400 from
 * the API and a 401/403/429 from the edge the same way.
 */

/** Body of every generated error: a stable code and a sentence naming the problem. */
export interface ProblemBody {
  /** Stable, machine-readable: `bad_request`, `not_found`, `method_not_allowed`, `internal`... */
  readonly error: string;
  /** Human-readable; names the field or limit at fault. */
  readonly message: string;
}

/** Headers every JSON answer carries: decisions are never cacheable. */
export const JSON_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
};

/** A problem body. */
export function problem(error: string, message: string): ProblemBody {
  return { error, message };
}

/** The value of a header in a plain (single-valued) header map, whatever the case of its name. */
export function headerValue(
  headers: Readonly<Record<string, string | undefined>> | undefined,
  name: string,
): string | undefined {
  if (headers === undefined) return undefined;
  const direct = headers[name] ?? headers[name.toLowerCase()];
  if (direct !== undefined) return direct;
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === lower) return value;
  return undefined;
}
