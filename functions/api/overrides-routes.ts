/**
 * The regional API's override routes (docs/api.md, "Overrides"): how an
 * operator changes limits at run time, with the API's own auth (IAM on the
 * function URL). Every change is validated against the config the function
 * was deployed with (every problem listed, 400) and logged as one structured
 * line naming who (the caller's IAM identity) and when.
 *
 * - `GET /v1/overrides[?deleted=true]`: every override (and tombstones);
 * - `GET|PUT|DELETE /v1/overrides/{policy}`: the policy-level override;
 * - `GET|PUT|DELETE /v1/overrides/{policy}/{key}`: one key's (the key
 *   URL-encoded as one path segment).
 *
 * `PUT` takes `{ "settings": {...}, "reason"?: "..." }` and replaces the
 * override. Writes go to this region's replica; the global table carries
 * them to every region, last writer winning.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  isOperator,
  MAX_OVERRIDES,
  normaliseOverrideKey,
  type OverrideRecord,
  type OverrideSettings,
  type OverrideTarget,
  overrideSortKey,
  validateOverride,
} from '../config/overrides';
import type { ResolvedConfig } from '../config/resolve';
import type { ConfigProblem } from '../config/schema';
import { JSON_HEADERS, problem } from '../shared/http';
import type { OverrideTable, StoredOverride } from '../store/override-table';

/** Prefix of the override routes. */
export const OVERRIDES_ROUTE = '/v1/overrides';

/** Largest accepted `PUT` body (bytes). */
export const MAX_OVERRIDE_BODY_BYTES = 16_384;

/** Header naming the operator when the API has no IAM identity to record (auth `none`, local runs). */
export const ACTOR_HEADER = 'x-limits-actor';

/** What the routes need. */
export interface OverrideRoutesDependencies {
  readonly config: ResolvedConfig;
  readonly table: Pick<OverrideTable, 'read' | 'put' | 'delete'>;
  /** Milliseconds since the epoch (the `updatedAt` recorded). @default Date.now */
  readonly clock?: () => number;
  /** Where every change is logged (one JSON line). @default console.log as JSON */
  readonly log?: (entry: Readonly<Record<string, unknown>>) => void;
  /** The region serving the call (logged). */
  readonly region?: string;
}

type Result = APIGatewayProxyStructuredResultV2;

/** An override as the API answers it. */
export interface OverrideAnswer {
  readonly policy: string;
  readonly key?: string;
  readonly settings: OverrideSettings;
  readonly reason?: string;
  readonly updatedBy: string;
  readonly updatedAt: string;
  readonly deleted?: true;
}

/** Whether `path` is one of the override routes. */
export function isOverridePath(path: string): boolean {
  return path === OVERRIDES_ROUTE || path.startsWith(`${OVERRIDES_ROUTE}/`);
}

/** Answers one call of an override route (`path` without a stage prefix). */
export async function overrideRoute(
  event: APIGatewayProxyEventV2,
  method: string,
  path: string,
  deps: OverrideRoutesDependencies,
): Promise<Result> {
  const rest = path.slice(OVERRIDES_ROUTE.length + 1);
  if (path === OVERRIDES_ROUTE) {
    if (method !== 'GET') return methodNotAllowed('GET');
    const includeDeleted = event.queryStringParameters?.deleted === 'true';
    const { overrides } = await deps.table.read({ consistent: true });
    return json(200, {
      overrides: overrides.filter((o) => includeDeleted || !o.deleted).map(answerOf),
    });
  }
  const segments = rest.split('/');
  if (segments.length > 2 || segments.some((s) => s.length === 0)) {
    return json(
      404,
      problem('not_found', `use ${OVERRIDES_ROUTE}/{policy} or ${OVERRIDES_ROUTE}/{policy}/{key}`),
    );
  }
  let target: OverrideTarget;
  try {
    const [policy, key] = segments.map((s) => decodeURIComponent(s));
    target = key === undefined ? { policy: policy as string } : { policy: policy as string, key };
  } catch {
    return json(400, problem('bad_request', 'the path is not valid URL encoding'));
  }
  if (method === 'GET') return getOne(target, deps);
  if (method === 'PUT' || method === 'DELETE') {
    const refused = notAnOperator(event, deps.config);
    if (refused !== undefined) return refused;
  }
  if (method === 'PUT') return put(event, target, deps);
  if (method === 'DELETE') return remove(event, target, deps);
  return methodNotAllowed('GET, PUT, DELETE');
}

async function getOne(target: OverrideTarget, deps: OverrideRoutesDependencies): Promise<Result> {
  const targetProblems = validateTarget(deps.config, target);
  if (targetProblems.length > 0) return invalid(targetProblems);
  const found = await find(deps, normalised(target));
  if (found === undefined || found.deleted) {
    return json(404, problem('not_found', `no override ${overrideSortKey(target)}`));
  }
  return json(200, answerOf(found));
}

async function put(
  event: APIGatewayProxyEventV2,
  target: OverrideTarget,
  deps: OverrideRoutesDependencies,
): Promise<Result> {
  const parsed = parseBody(event);
  if ('problems' in parsed) return invalid(parsed.problems);
  const problems = validateOverride(deps.config, target, parsed.settings, parsed.reason);
  if (problems.length > 0) return invalid(problems);
  const normalisedTarget = normalised(target);
  const { overrides } = await deps.table.read({ consistent: true });
  const live = overrides.filter((o) => !o.deleted);
  const sortKey = overrideSortKey(normalisedTarget);
  if (live.length >= MAX_OVERRIDES && !live.some((o) => overrideSortKey(o) === sortKey)) {
    return json(
      409,
      problem('too_many_overrides', `${live.length} overrides exist; at most ${MAX_OVERRIDES}`),
    );
  }
  const record: OverrideRecord = {
    ...normalisedTarget,
    settings: parsed.settings as OverrideSettings,
    updatedBy: actorOf(event),
    updatedAtMs: (deps.clock ?? Date.now)(),
    ...(typeof parsed.reason === 'string' ? { reason: parsed.reason } : {}),
  };
  const previous = live.find((o) => overrideSortKey(o) === sortKey);
  await deps.table.put(record);
  logChange(deps, 'override set', record, previous);
  return json(200, answerOf({ ...record, deleted: false }));
}

async function remove(
  event: APIGatewayProxyEventV2,
  target: OverrideTarget,
  deps: OverrideRoutesDependencies,
): Promise<Result> {
  const targetProblems = validateTarget(deps.config, target);
  if (targetProblems.length > 0) return invalid(targetProblems);
  const normalisedTarget = normalised(target);
  const previous = await find(deps, normalisedTarget);
  const reason = event.queryStringParameters?.reason;
  const by = {
    updatedBy: actorOf(event),
    updatedAtMs: (deps.clock ?? Date.now)(),
    ...(reason === undefined ? {} : { reason: reason.slice(0, 500) }),
  };
  const deleted = await deps.table.delete(normalisedTarget, by);
  if (!deleted) {
    return json(404, problem('not_found', `no override ${overrideSortKey(normalisedTarget)}`));
  }
  logChange(deps, 'override deleted', { ...normalisedTarget, ...by }, previous);
  return json(200, { deleted: overrideSortKey(normalisedTarget), ...by });
}

/** 403 when `regionalApi.operators` is set and the caller is not one of them. */
function notAnOperator(event: APIGatewayProxyEventV2, config: ResolvedConfig): Result | undefined {
  const operators = config.config.regionalApi?.operators;
  if (operators === undefined) return undefined;
  const actor = actorOf(event);
  if (isOperator(actor, operators)) return undefined;
  return json(
    403,
    problem(
      'forbidden',
      `only regionalApi.operators may change overrides; the caller is ${actor.slice(0, 200)}`,
    ),
  );
}

/** The target's own problems (policy known, key well-formed), for GET and DELETE. */
function validateTarget(config: ResolvedConfig, target: OverrideTarget): ConfigProblem[] {
  // Validated with a placeholder setting of both levels so that only the target is judged.
  return validateOverride(config, target, { shadow: false }).filter(
    (p) => p.path === 'policy' || p.path === 'key',
  );
}

function normalised(target: OverrideTarget): OverrideTarget {
  return target.key === undefined
    ? { policy: target.policy }
    : { policy: target.policy, key: normaliseOverrideKey(target.key) };
}

async function find(
  deps: OverrideRoutesDependencies,
  target: OverrideTarget,
): Promise<StoredOverride | undefined> {
  const { overrides } = await deps.table.read({ consistent: true });
  const sortKey = overrideSortKey(target);
  return overrides.find((o) => overrideSortKey(o) === sortKey);
}

/** The body of a PUT, or every problem of its shape. */
function parseBody(
  event: APIGatewayProxyEventV2,
): { settings: unknown; reason: unknown } | { problems: ConfigProblem[] } {
  const body = event.body;
  if (body === undefined || body.length === 0) {
    return {
      problems: [{ path: 'body', message: 'must be {"settings": {...}, "reason": "..."}' }],
    };
  }
  const raw = event.isBase64Encoded === true ? Buffer.from(body, 'base64') : Buffer.from(body);
  if (raw.byteLength > MAX_OVERRIDE_BODY_BYTES) {
    return {
      problems: [{ path: 'body', message: `larger than ${MAX_OVERRIDE_BODY_BYTES} bytes` }],
    };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    return { problems: [{ path: 'body', message: 'is not valid JSON' }] };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { problems: [{ path: 'body', message: 'must be a JSON object' }] };
  }
  const fields = parsed as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => k !== 'settings' && k !== 'reason');
  if (unknown.length > 0) {
    return {
      problems: unknown.map((k) => ({
        path: k.slice(0, 40),
        message: 'unknown field (expected settings and reason)',
      })),
    };
  }
  return { settings: fields.settings, reason: fields.reason };
}

/**
 * Who is calling: the IAM identity the function URL authenticated (its ARN),
 * else the actor the caller names (auth `none`, local runs: unverified, and
 * marked so).
 */
export function actorOf(event: APIGatewayProxyEventV2): string {
  const iam = (
    event.requestContext as { authorizer?: { iam?: { userArn?: string; callerId?: string } } }
  ).authorizer?.iam;
  const arn = iam?.userArn ?? iam?.callerId;
  if (typeof arn === 'string' && arn.length > 0) return arn;
  const named = event.headers?.[ACTOR_HEADER];
  return `unauthenticated${named === undefined || named.length === 0 ? '' : `:${named.slice(0, 100)}`}`;
}

function logChange(
  deps: OverrideRoutesDependencies,
  message: string,
  change: OverrideTarget & {
    readonly updatedBy: string;
    readonly updatedAtMs: number;
    readonly settings?: OverrideSettings;
    readonly reason?: string;
  },
  previous: StoredOverride | undefined,
): void {
  const log = deps.log ?? ((entry) => console.log(JSON.stringify(entry)));
  log({
    level: 'info',
    message,
    policy: change.policy,
    ...(change.key === undefined ? {} : { key: change.key }),
    ...(change.settings === undefined ? {} : { settings: change.settings }),
    ...(change.reason === undefined ? {} : { reason: change.reason }),
    by: change.updatedBy,
    at: new Date(change.updatedAtMs).toISOString(),
    ...(deps.region === undefined ? {} : { region: deps.region }),
    ...(previous === undefined || previous.deleted ? {} : { previous: previous.settings }),
  });
}

function answerOf(o: StoredOverride): OverrideAnswer {
  return {
    policy: o.policy,
    ...(o.key === undefined ? {} : { key: o.key }),
    settings: o.settings,
    ...(o.reason === undefined ? {} : { reason: o.reason }),
    updatedBy: o.updatedBy,
    updatedAt: new Date(o.updatedAtMs).toISOString(),
    ...(o.deleted ? { deleted: true as const } : {}),
  };
}

function invalid(problems: readonly ConfigProblem[]): Result {
  return json(400, {
    ...problem(
      'invalid_override',
      `${problems.length} problem${problems.length === 1 ? '' : 's'}: ${problems
        .map((p) => `${p.path}: ${p.message}`)
        .join('; ')}`,
    ),
    problems,
  });
}

function methodNotAllowed(allow: string): Result {
  return json(405, problem('method_not_allowed', `use ${allow}`), { Allow: allow });
}

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): Result {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}
