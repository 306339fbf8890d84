/**
 * What the regional API refuses to consume, before the limiter is asked: the
 * rules of each policy's `apiAccess` (defaults in functions/config/resolve.ts).
 *
 * Why: the API is one caller taking tokens from buckets every client of the
 * edge shares. Unguarded, three calls of cost 5,000 on a global cap (one per
 * region, each before the others' writes replicate) took 15,000 tokens from a
 * 5,000-token bucket and made every client's requests 429; and a call naming
 * `ip:203.0.113.7` locked that viewer out. So a consume must be allowed on
 * the policy, take at most its `maxCostPerCall`, and name an `ip:` key only
 * where `ipKeys` allows it.
 *
 * Peeks (`GET /v1/limit`) are not guarded: they take nothing, so they cannot
 * hurt another caller, and reading a shared bucket or a viewer's IP bucket is
 * what an operator needs to see why clients are refused.
 */
import type { ResolvedApiAccess, ResolvedConfig } from '../config/resolve';
import { IP_KEY_PREFIX } from '../edge/client-ip';
import { normaliseKey } from '../limiter/bucket-id';
import { LimitRequestError } from '../limiter/errors';
import type { LimitRequest } from '../limiter/types';
import type { ProblemBody } from '../shared/http';

/** The `apiAccess` rule a refusal applies. */
export type ApiAccessRule = 'apiAccess.consume' | 'apiAccess.maxCostPerCall' | 'apiAccess.ipKeys';

/**
 * The body of a refused consume: the problem (`forbidden` with 403,
 * `bad_request` with 400, as every generated error), the policy and the rule
 * that refused.
 */
export interface ConsumeRefusalBody extends ProblemBody {
  readonly policy: string;
  readonly rule: ApiAccessRule;
}

/** A consume the API refuses: 403 (not allowed on this policy or key) or 400 (cost too high). */
export interface ConsumeRefusal {
  readonly status: 400 | 403;
  readonly body: ConsumeRefusalBody;
}

/** Decides whether a consume may reach the limiter: a refusal, or undefined to go on. */
export type ConsumeGuard = (request: LimitRequest) => ConsumeRefusal | undefined;

/**
 * The guard of a resolved config. A request that is bad input whatever the
 * guard says (an unknown policy, a key or a cost the limiter refuses) passes,
 * so that the limiter answers it with its own 400 naming the problem.
 */
export function consumeGuardOf(
  config: Pick<ResolvedConfig, 'apiAccess' | 'policies' | 'runtime'>,
): ConsumeGuard {
  return (request) => {
    const access = config.apiAccess.get(request.policyId);
    const policy = config.policies.get(request.policyId);
    if (access === undefined || policy === undefined) return undefined;
    return (
      consumeRefusal(request.policyId, access) ??
      ipKeyRefusal(request, access, config.runtime.maxKeyLength) ??
      costRefusal(request, access, policy.bucket.capacityTokens)
    );
  };
}

function consumeRefusal(policy: string, access: ResolvedApiAccess): ConsumeRefusal | undefined {
  if (access.consume) return undefined;
  const why =
    access.consumeBasis === 'configured'
      ? 'its apiAccess.consume is false'
      : access.consumeBasis === 'shared-keys'
        ? `rule "${access.sharedByRule}" keys it by constants only, so its buckets are shared by every client`
        : 'no rule uses it, so nothing shows its keys are per caller';
  return refusal(
    403,
    'forbidden',
    policy,
    'apiAccess.consume',
    `policy "${policy}" may be peeked but not consumed through the API: ${why}; set apiAccess.consume: true on it to allow consuming`,
  );
}

function ipKeyRefusal(
  request: LimitRequest,
  access: ResolvedApiAccess,
  maxKeyLength: number,
): ConsumeRefusal | undefined {
  if (access.ipKeys) return undefined;
  let key: string;
  try {
    key = normaliseKey(request.key, maxKeyLength);
  } catch (error) {
    if (error instanceof LimitRequestError) return undefined;
    throw error;
  }
  if (!key.startsWith(IP_KEY_PREFIX)) return undefined;
  return refusal(
    403,
    'forbidden',
    request.policyId,
    'apiAccess.ipKeys',
    `"${IP_KEY_PREFIX}" keys are viewers' IP buckets: policy "${request.policyId}" does not let the API consume them (apiAccess.ipKeys is false)`,
  );
}

function costRefusal(
  request: LimitRequest,
  access: ResolvedApiAccess,
  capacityTokens: number,
): ConsumeRefusal | undefined {
  const cost = request.costTokens;
  // Above capacity, the limiter's 400 says more: no call of that cost could ever be admitted.
  if (!(cost > access.maxCostPerCall) || cost > capacityTokens) return undefined;
  return refusal(
    400,
    'bad_request',
    request.policyId,
    'apiAccess.maxCostPerCall',
    `cost ${request.costTokens} exceeds the ${access.maxCostPerCall} tokens one API call may take from policy "${request.policyId}" (apiAccess.maxCostPerCall)`,
  );
}

function refusal(
  status: 400 | 403,
  error: string,
  policy: string,
  rule: ApiAccessRule,
  message: string,
): ConsumeRefusal {
  return { status, body: { error, message, policy, rule } };
}
