/**
 * The part of the config the Lambda@Edge functions carry: what the edge code
 * reads, and nothing else.
 *
 * Why a projection: Lambda@Edge has no environment variables, so the config
 * is compiled into the bundle, and any change to a bundle publishes a new
 * function version that CloudFront replicates to every edge location
 * (minutes). With the whole config compiled in, an alarm threshold or a pager
 * address would do that too. The edge bundle gets {@link edgeConfigOf} of the
 * config instead; the regional functions keep the whole config.
 *
 * What the edge reads (functions/edge, functions/limiter, functions/store
 * through {@link ResolvedEdgeConfig}): the policies and rules, the default
 * rule, the regions and table names that pick its replica, and the runtime
 * tuning. The type keeps it honest: code typed with {@link EdgeConfig} cannot
 * read a field the projection drops, so a field the edge starts reading must
 * be added to {@link EDGE_CONFIG_FIELDS} first.
 *
 * The whole config is still validated at synth (infra/limiter-app.ts); the
 * edge validates its projection again when its container starts, by the same
 * rules ({@link validateEdgeConfig}).
 *
 * @see ResolvedEdgeConfig in resolve.ts, which resolves a projection.
 */
import {
  type ConfigProblem,
  InvalidConfigError,
  type LimiterConfig,
  type PolicyConfig,
  validateConfig,
} from './schema';

/** Top-level fields of the config the edge reads. */
export const EDGE_CONFIG_FIELDS = [
  'regions',
  'tableName',
  'strong',
  'policies',
  'rules',
  'defaultRule',
  'runtime',
] as const satisfies readonly (keyof LimiterConfig)[];

/** A top-level field the edge reads. */
export type EdgeConfigField = (typeof EDGE_CONFIG_FIELDS)[number];

/** What the edge bundle carries: the fields of {@link EDGE_CONFIG_FIELDS}. */
export type EdgeConfig = Pick<LimiterConfig, EdgeConfigField>;

/**
 * Fields of a policy only the regional functions read: the reconciler's
 * watched buckets and the regional API's access. Left out of the edge
 * config, so that changing them does not publish a new Lambda@Edge version.
 * Every other policy field reaches the edge, including fields added later.
 */
export const REGIONAL_ONLY_POLICY_FIELDS = [
  'watchKeys',
  'apiAccess',
] as const satisfies readonly (keyof PolicyConfig)[];

/**
 * The edge's part of a config, with its fields in a fixed order so the same
 * config always compiles to the same bundle. `config` is expected valid (it
 * is validated at synth and again where the projection is read).
 */
export function edgeConfigOf(config: EdgeConfig): EdgeConfig {
  const out: Record<string, unknown> = {};
  for (const field of EDGE_CONFIG_FIELDS) {
    const value = field === 'policies' ? config.policies.map(edgePolicyOf) : config[field];
    if (value !== undefined) out[field] = value;
  }
  return out as unknown as EdgeConfig;
}

function edgePolicyOf(policy: PolicyConfig): PolicyConfig {
  const out: Record<string, unknown> = { ...policy };
  for (const field of REGIONAL_ONLY_POLICY_FIELDS) delete out[field];
  return out as unknown as PolicyConfig;
}

/**
 * Values for the fields {@link validateConfig} requires that the edge config
 * leaves out: valid and inert. Validating `{ ...STAND_INS, ...edge }` applies
 * the one copy of the rules to the edge's fields; the type makes a required
 * field added to the config later fail to compile here until it has one.
 */
const STAND_INS: Omit<LimiterConfig, EdgeConfigField> = {
  appName: 'EdgeConfig',
  account: '000000000000',
  origin: { domainName: 'origin.invalid' },
};

/** Whether a problem's path lies in the edge's fields (`policies[0].id`, `strong.regions`, `runtime`). */
function isEdgePath(path: string): boolean {
  return EDGE_CONFIG_FIELDS.some(
    (field) => path === field || path.startsWith(`${field}.`) || path.startsWith(`${field}[`),
  );
}

/**
 * Lists every problem of an edge config (empty when valid): the problems
 * {@link validateConfig} finds in its fields. Problems of the fields it does
 * not carry are not its own (the whole config was checked at synth).
 */
export function validateEdgeConfig(config: EdgeConfig): ConfigProblem[] {
  return validateConfig({ ...STAND_INS, ...config }).filter((p) => isEdgePath(p.path));
}

/** Throws InvalidConfigError listing every problem of an edge config, if any. */
export function assertEdgeConfig(config: EdgeConfig): EdgeConfig {
  const problems = validateEdgeConfig(config);
  if (problems.length > 0) throw new InvalidConfigError(problems);
  return config;
}
