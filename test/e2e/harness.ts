/**
 * What the end-to-end tests share: the config they run (the project config
 * plus a few policies that only tests need), and small HTTP helpers that talk
 * to the local runtime exactly as a client would.
 *
 * The store budget is raised to the most the config allows (3 s): the tests
 * run beside other test files on two cores, where an embedded DynamoDB call
 * occasionally takes hundreds of ms, and a decision must be taken by the
 * store, not by the failure mode, unless a test takes the store down on
 * purpose.
 */

import {
  isTokenBucketPolicy,
  type LimiterConfig,
  type TokenBucketPolicyConfig,
} from '../../functions/config/schema';
import { config as projectConfig } from '../../limiter.config';
import type { EchoBody } from '../../local/echo-origin';
import type { LocalHandle } from '../../local/runtime';

/** Store budget of the test config (ms). */
export const E2E_STORE_BUDGET_MS = 3000;

/** Test-only policies, each behind a path prefix of the same name. */
const TEST_POLICIES: TokenBucketPolicyConfig[] = [
  { id: 'shadow', capacityTokens: 10, refillTokens: 1, shadow: true },
  { id: 'fail-open', capacityTokens: 10, refillTokens: 1, onStoreError: 'open' },
  { id: 'fail-closed', capacityTokens: 10, refillTokens: 1, onStoreError: 'closed' },
  {
    id: 'fail-local',
    capacityTokens: 10,
    refillTokens: 1,
    onStoreError: 'local',
    localShare: 0.5,
  },
];

/** The project config, its regions replaced, with the test policies routed first. */
export function e2eConfig(
  regions: readonly string[] = projectConfig.regions,
  storeBudgetMs = E2E_STORE_BUDGET_MS,
): LimiterConfig {
  return {
    ...projectConfig,
    regions: [...regions],
    policies: [...projectConfig.policies, ...TEST_POLICIES],
    rules: [
      ...TEST_POLICIES.map((p) => ({
        id: p.id,
        match: { path: `/${p.id}/**` },
        policy: p.id,
        key: [{ header: 'x-api-key' }],
      })),
      ...projectConfig.rules,
    ],
    runtime: { ...projectConfig.runtime, storeBudgetMs },
  };
}

/** A policy of the config, by id. */
export function policyOf(config: LimiterConfig, id: string): TokenBucketPolicyConfig {
  const policy = config.policies.find((p) => p.id === id);
  if (policy === undefined || !isTokenBucketPolicy(policy)) {
    throw new Error(`no token-bucket policy ${id}`);
  }
  return policy;
}

/** One answer of an edge, as the client saw it. */
export interface EdgeAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The echo origin's answer, when the request reached it. */
  readonly echo: EchoBody | undefined;
  readonly sentAtMs: number;
  readonly doneAtMs: number;
}

/**
 * The header a local runtime started with `viewerIpHeader: VIEWER_IP_HEADER`
 * takes the viewer's address from: each test plays its own viewer.
 */
export const VIEWER_IP_HEADER = 'x-test-viewer-ip';

/** A GET through `region`'s edge with an `x-api-key` (from `viewerIp`, when the runtime lets tests say). */
export async function edgeGet(
  local: LocalHandle,
  region: string,
  path: string,
  apiKey: string,
  viewerIp?: string,
): Promise<EdgeAnswer> {
  const sentAtMs = Date.now();
  const res = await fetch(`${local.edgeUrls[region]}${path}`, {
    headers: {
      'x-api-key': apiKey,
      ...(viewerIp === undefined ? {} : { [VIEWER_IP_HEADER]: viewerIp }),
    },
  });
  const text = await res.text();
  const doneAtMs = Date.now();
  let echo: EchoBody | undefined;
  try {
    const parsed = JSON.parse(text) as Partial<EchoBody>;
    if (parsed.origin === 'echo') echo = parsed as EchoBody;
  } catch {
    echo = undefined;
  }
  return { status: res.status, headers: res.headers, text, echo, sentAtMs, doneAtMs };
}

/** The member of `policy` in a `RateLimit` or `RateLimit-Policy` list, or undefined. */
export function memberOf(list: string | null, policy: string): string | undefined {
  return (list ?? '').split(', ').find((m) => m.startsWith(`"${policy}";`));
}

/** The policies a `RateLimit` or `RateLimit-Policy` list names, in order. */
export function policiesOf(list: string | null): string[] {
  return (list ?? '')
    .split(', ')
    .filter((m) => m !== '')
    .map((m) => m.slice(1, m.indexOf('"', 1)));
}

/** The regional API's answer to a peek (`GET /v1/limit`). */
export interface PeekAnswer {
  readonly allowed: boolean;
  readonly remaining: number;
  readonly limit: number;
  readonly resetAt: string;
  readonly source: string;
}

/** Peeks a bucket through `region`'s regional API (consumes nothing). */
export async function peek(
  local: LocalHandle,
  region: string,
  policy: string,
  key: string,
): Promise<PeekAnswer> {
  const query = new URLSearchParams({ policy, key });
  const res = await fetch(`${local.apiUrls[region]}/v1/limit?${query}`);
  if (res.status !== 200) throw new Error(`peek in ${region}: ${res.status} ${await res.text()}`);
  return (await res.json()) as PeekAnswer;
}

/** Peeks every region at once. */
export function peekAll(
  local: LocalHandle,
  policy: string,
  key: string,
): Promise<{ region: string; answer: PeekAnswer }[]> {
  return Promise.all(
    local.regions.map(async (region) => ({
      region,
      answer: await peek(local, region, policy, key),
    })),
  );
}

/** Largest difference between the regions' `resetAt` (ms): 1000 ms ≈ one token for a 1 token/s bucket. */
export function resetSpreadMs(answers: readonly { answer: PeekAnswer }[]): number {
  const times = answers.map((a) => Date.parse(a.answer.resetAt));
  return Math.max(...times) - Math.min(...times);
}

/** Resolves after `ms` (at least; at once when `ms` ≤ 0). For waits whose length is the point, e.g. a Retry-After. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
