/**
 * Run-time overrides of the configured limits: what an operator may change
 * without redeploying (docs/configuration.md, "Overrides"). They live in the
 * global table (functions/store/override-table.ts), so every region's
 * containers pick them up within the bound docs/design.md ("Overrides") gives.
 *
 * Two levels, the more specific winning:
 * - a **policy-level** override patches the whole policy (capacity, refill,
 *   shadow, enabled, added allow and deny keys);
 * - a **per-key** override patches one key of a policy (capacity, refill, a
 *   factor, shadow) or answers it outright (`mode: 'allow' | 'deny'`), and
 *   takes precedence over the configured and added lists.
 *
 * The settings are a closed set of optional fields, each with its own rule in
 * {@link FIELDS}: a new field (a calendar quota's size, say) is one entry
 * there and one step where overrides are applied, and older items stay valid.
 *
 * Pure: validated against the resolved config, no store, no clock.
 */

import { type BucketPolicy, validateBucketPolicy, validateCost } from '../core';
import { normaliseListedKey, type ResolvedEdgeConfig, type ResolvedPolicy } from './resolve';
import {
  type ConfigProblem,
  type CostConfig,
  type LimitConfig,
  limitsOf,
  type RuleConfig,
} from './schema';

/** How a per-key override answers its key. */
export type OverrideMode = 'limit' | 'allow' | 'deny';

/** Every {@link OverrideMode}. */
export const OVERRIDE_MODES: readonly OverrideMode[] = ['limit', 'allow', 'deny'];

/** What an override changes; every field optional, at least one given. */
export interface OverrideSettings {
  /** Per key: `allow` never limits it, `deny` refuses it (403), `limit` limits it even when listed. @default 'limit' */
  readonly mode?: OverrideMode;
  /** Burst size instead of the policy's. */
  readonly capacityTokens?: number;
  /** Tokens per refill interval instead of the policy's. */
  readonly refillTokens?: number;
  /** Multiplies capacity and refill (after the two fields above): `10` gives a tenant ten times the limit. */
  readonly factor?: number;
  /** Decide and count, never block. */
  readonly shadow?: boolean;
  /** Policy level: `false` limits no key of the policy (per-key `deny` overrides still refuse). */
  readonly enabled?: boolean;
  /** Policy level: keys never limited, on top of the configured `allowKeys`. */
  readonly allowKeys?: readonly string[];
  /** Policy level: keys always refused (403), on top of the configured `denyKeys`. */
  readonly denyKeys?: readonly string[];
}

/** Which override: a policy (`key` absent) or one key of it. */
export interface OverrideTarget {
  readonly policy: string;
  /** The key as requests carry it (normalised: trimmed, NFC). */
  readonly key?: string;
}

/** One override as stored: target, settings, and who changed it when. */
export interface OverrideRecord extends OverrideTarget {
  readonly settings: OverrideSettings;
  /** Who wrote it (the caller's IAM identity, or the command's user). */
  readonly updatedBy: string;
  /** When it was written (ms since the epoch). */
  readonly updatedAtMs: number;
  /** Why (free text, for the audit trail). */
  readonly reason?: string;
}

/** Largest `factor`. */
export const MAX_OVERRIDE_FACTOR = 1000;
/** Most keys one policy-level override adds to a list. */
export const MAX_OVERRIDE_LIST_KEYS = 100;
/** Longest `reason`, in characters. */
export const MAX_OVERRIDE_REASON = 500;
/** Most overrides the table holds (each container reads them all every refresh). */
export const MAX_OVERRIDES = 1000;
/** DynamoDB's sort-key limit (bytes), which `<policy>#<key>` must fit. */
export const MAX_SORT_KEY_BYTES = 1024;

type Level = 'policy' | 'key';

interface FieldRule {
  /** Levels the field may be set at. */
  readonly levels: readonly Level[];
  /** Problems of the value (empty: fine). */
  readonly check: (value: unknown, context: CheckContext) => string[];
}

interface CheckContext {
  readonly maxKeyLength: number;
  readonly policy: ResolvedPolicy | undefined;
}

const positiveInteger = (value: unknown): string[] =>
  typeof value === 'number' && Number.isSafeInteger(value) && value > 0
    ? []
    : [`must be a positive integer (got ${JSON.stringify(value)})`];

const boolean = (value: unknown): string[] =>
  typeof value === 'boolean' ? [] : [`must be true or false (got ${JSON.stringify(value)})`];

const keyList = (value: unknown, context: CheckContext): string[] => {
  if (!Array.isArray(value)) return ['must be an array of keys'];
  const problems: string[] = [];
  if (value.length > MAX_OVERRIDE_LIST_KEYS) {
    problems.push(`holds ${value.length} keys; at most ${MAX_OVERRIDE_LIST_KEYS}`);
  }
  value.forEach((k, i) => {
    for (const m of keyProblems(k, context.maxKeyLength)) problems.push(`[${i}] ${m}`);
  });
  return problems;
};

/**
 * The rule of every settings field: where it may be set and what it accepts.
 * A field missing here is refused as unknown.
 */
const FIELDS: Readonly<Record<keyof OverrideSettings, FieldRule>> = {
  mode: {
    levels: ['key'],
    check: (v) =>
      OVERRIDE_MODES.includes(v as OverrideMode)
        ? []
        : [`must be ${OVERRIDE_MODES.join(', ')} (got ${JSON.stringify(v)})`],
  },
  capacityTokens: { levels: ['policy', 'key'], check: positiveInteger },
  refillTokens: { levels: ['policy', 'key'], check: positiveInteger },
  factor: {
    levels: ['policy', 'key'],
    check: (v) =>
      typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= MAX_OVERRIDE_FACTOR
        ? []
        : [`must be a number in (0, ${MAX_OVERRIDE_FACTOR}] (got ${JSON.stringify(v)})`],
  },
  shadow: { levels: ['policy', 'key'], check: boolean },
  enabled: { levels: ['policy'], check: boolean },
  allowKeys: { levels: ['policy'], check: keyList },
  denyKeys: { levels: ['policy'], check: keyList },
};

/** The settings fields, in documentation order. */
export const OVERRIDE_FIELDS = Object.keys(FIELDS) as (keyof OverrideSettings)[];

/** Fields that change the bucket's shape. */
const BUCKET_FIELDS = ['capacityTokens', 'refillTokens', 'factor'] as const;

/** Normalises an override key the way request keys and listed keys are (trim, NFC). */
export function normaliseOverrideKey(key: string): string {
  return normaliseListedKey(key);
}

/** The sort key of an override in the overrides partition: `<policy>` or `<policy>#<key>`. */
export function overrideSortKey(target: OverrideTarget): string {
  return target.key === undefined ? target.policy : `${target.policy}#${target.key}`;
}

/** The target of a sort key (policy ids never hold `#`, so the first one splits). */
export function overrideTargetOf(sortKey: string): OverrideTarget {
  const at = sortKey.indexOf('#');
  return at < 0
    ? { policy: sortKey }
    : { policy: sortKey.slice(0, at), key: sortKey.slice(at + 1) };
}

/**
 * Every problem of an override (empty when valid) against the resolved
 * config: the policy must exist, the key must be one a request can carry,
 * every field must be known, allowed at its level and well-formed, and the
 * patched bucket must still be a valid one that admits every cost the
 * policy's rules charge.
 */
export function validateOverride(
  config: ResolvedEdgeConfig,
  target: { readonly policy?: unknown; readonly key?: unknown },
  settings: unknown,
  reason?: unknown,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  const maxKeyLength = config.runtime.maxKeyLength;

  let policy: ResolvedPolicy | undefined;
  if (typeof target.policy !== 'string' || target.policy.length === 0) {
    add('policy', 'must name a policy');
  } else {
    policy = config.policies.get(target.policy);
    if (policy === undefined) {
      add(
        'policy',
        `unknown policy "${target.policy.slice(0, 40)}" (known: ${[...config.policies.keys()].join(', ')})`,
      );
    }
  }
  const level: Level = target.key === undefined ? 'policy' : 'key';
  if (target.key !== undefined) {
    for (const m of keyProblems(target.key, maxKeyLength)) add('key', m);
    if (typeof target.key === 'string' && typeof target.policy === 'string') {
      const bytes = Buffer.byteLength(
        overrideSortKey({ policy: target.policy, key: normaliseOverrideKey(target.key) }),
        'utf8',
      );
      if (bytes > MAX_SORT_KEY_BYTES) {
        add('key', `is ${bytes} bytes with the policy id; at most ${MAX_SORT_KEY_BYTES}`);
      }
    }
  }
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_OVERRIDE_REASON)) {
    add('reason', `must be text of at most ${MAX_OVERRIDE_REASON} characters`);
  }

  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    add('settings', `must be an object of ${OVERRIDE_FIELDS.join(', ')}`);
    return problems;
  }
  const fields = settings as Record<string, unknown>;
  const given = Object.keys(fields).filter((name) => fields[name] !== undefined);
  if (given.length === 0)
    add('settings', `sets nothing: give one of ${OVERRIDE_FIELDS.join(', ')}`);
  const context: CheckContext = { maxKeyLength, policy };
  for (const name of given) {
    const rule = Object.hasOwn(FIELDS, name) ? FIELDS[name as keyof OverrideSettings] : undefined;
    if (rule === undefined) {
      add(`settings.${name.slice(0, 40)}`, `unknown field (known: ${OVERRIDE_FIELDS.join(', ')})`);
      continue;
    }
    if (!rule.levels.includes(level)) {
      add(
        `settings.${name}`,
        level === 'key'
          ? 'is set on a policy-level override only (omit the key)'
          : 'is set on a per-key override only (give a key)',
      );
    }
    for (const m of rule.check(fields[name], context)) add(`settings.${name}`, m);
  }
  const s = fields as OverrideSettings;
  if (s.mode === 'allow' || s.mode === 'deny') {
    for (const name of [...BUCKET_FIELDS, 'shadow'] as const) {
      if (s[name] !== undefined) {
        add(`settings.${name}`, `has no effect with mode "${s.mode}" (the key is never counted)`);
      }
    }
  }
  if (Array.isArray(s.allowKeys) && Array.isArray(s.denyKeys)) {
    const allowed = new Set(s.allowKeys.map((k) => normaliseOverrideKey(String(k))));
    for (const k of s.denyKeys) {
      if (allowed.has(normaliseOverrideKey(String(k)))) {
        add(
          'settings.denyKeys',
          `key "${String(k).slice(0, 40)}" is in both allowKeys and denyKeys`,
        );
      }
    }
  }
  if (policy?.quota !== undefined && s.refillTokens !== undefined) {
    add(
      'settings.refillTokens',
      `policy "${policy.id}" is a quota: it never refills (set its size with capacityTokens or factor)`,
    );
  }
  if (policy !== undefined && problems.length === 0) {
    const bucket = patchedBucket(policy.bucket, s);
    for (const m of validateBucketPolicy(bucket)) add('settings', `the patched bucket: ${m}`);
    for (const rule of config.config.rules) {
      for (const limit of limitsOf(rule).filter((l) => l.policy === policy.id)) {
        for (const cost of costsOfLimit(limit)) {
          for (const m of validateCost(bucket, cost)) add('settings', `rule "${rule.id}": ${m}`);
        }
      }
    }
  }
  return problems;
}

/**
 * A bucket with the bucket fields of `settings` applied: `capacityTokens` and
 * `refillTokens` replace, then `factor` multiplies both (rounded, at least 1).
 */
export function patchedBucket(bucket: BucketPolicy, settings: OverrideSettings): BucketPolicy {
  const capacity = settings.capacityTokens ?? bucket.capacityTokens;
  const refill = settings.refillTokens ?? bucket.refillTokens;
  const factor = settings.factor ?? 1;
  // A quota period's bucket never refills: its size is its limit, and it ends with its period.
  if (bucket.refillTokens === 0) {
    return { ...bucket, capacityTokens: Math.max(1, Math.round(capacity * factor)) };
  }
  return {
    capacityTokens: Math.max(1, Math.round(capacity * factor)),
    refillTokens: Math.max(1, Math.round(refill * factor)),
    refillIntervalMs: bucket.refillIntervalMs,
  };
}

/** Whether `settings` changes the bucket's shape (capacity, refill). */
export function changesBucket(settings: OverrideSettings): boolean {
  return BUCKET_FIELDS.some((name) => settings[name] !== undefined);
}

/** The largest cost a rule of `policyId` charges (1 without rules): the least capacity it needs. */
export function largestRuleCost(rules: readonly RuleConfig[], policyId: string): number {
  let largest = 1;
  for (const limit of rules.flatMap(limitsOf)) {
    if (limit.policy === policyId) largest = Math.max(largest, ...costsOfLimit(limit));
  }
  return largest;
}

function keyProblems(key: unknown, maxKeyLength: number): string[] {
  if (typeof key !== 'string') return ['must be a string'];
  if (key.length > maxKeyLength * 4) return [`is longer than ${maxKeyLength} characters`];
  const normalised = normaliseOverrideKey(key);
  if (normalised.length === 0) return ['must not be empty'];
  if (normalised.length > maxKeyLength) {
    return [
      `is ${normalised.length} characters long; at most ${maxKeyLength} (runtime.maxKeyLength)`,
    ];
  }
  return [];
}

/** Every cost a rule may charge: the ones that must fit in the bucket. */
function costsOfLimit(limit: LimitConfig): number[] {
  const cost: CostConfig | undefined = limit.cost;
  if (cost === undefined) return [1];
  if ('fixed' in cost) return [cost.fixed];
  if ('perMethod' in cost) return [cost.default, ...Object.values(cost.perMethod)];
  return [cost.maxTokens];
}

/**
 * Whether the caller `identityArn` (the function URL's IAM identity) is one
 * of `operators`: an account id admits every principal of the account, a
 * user ARN that user, a role ARN the role and its sessions
 * (`arn:aws:sts::<account>:assumed-role/<name>/<session>`).
 */
export function isOperator(identityArn: string, operators: readonly string[]): boolean {
  const identity = /^arn:(aws[a-z-]*):(iam|sts)::(\d{12}):(user|role|assumed-role)\/(.+)$/.exec(
    identityArn,
  );
  if (identity === null) return false;
  const [, partition, , account, kind, rest] = identity as unknown as string[];
  return operators.some((operator) => {
    if (/^\d{12}$/.test(operator)) return operator === account;
    if (operator === identityArn) return true;
    const role = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(operator);
    if (role === null || kind !== 'assumed-role') return false;
    const [, rolePartition, roleAccount, roleName] = role;
    return (
      rolePartition === partition &&
      roleAccount === account &&
      (rest as string).split('/')[0] === roleName
    );
  });
}
