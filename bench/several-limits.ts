/**
 * What charging a request to several limits costs (`npm run bench`, part
 * `limits`): store calls and writes per admitted request, and the time a
 * viewer waits for the limiter, for the shipped `/api/**` rule (per API key,
 * a monthly quota per key, per client IP, the global cap) against the same
 * rule with its first limit only.
 *
 * How: the real viewer-request handler and limiter, on virtual time, over an
 * in-memory table whose every call takes one round trip (`roundTripMs`), so
 * the waits count round trips, not this machine's speed. Two workloads: a
 * busy key (one key, one viewer, steady rate) and cold keys (a new key and
 * a new viewer address on every request: every bucket but the global cap is
 * new).
 */
import type { LimiterConfig, RuleConfig } from '../functions/config/schema';
import {
  applySlotWrite,
  applyTakeWrite,
  type SlotItem,
  type SlotWrite,
  type TakeWrite,
} from '../functions/core';
import { compileRules } from '../functions/edge/rule-match';
import { createViewerRequestHandler } from '../functions/edge/viewer-request';
import { Limiter } from '../functions/limiter/limiter';
import { type BucketStore, StoreConflictError, type TakeResult } from '../functions/store/types';
import { config as projectConfig } from '../limiter.config';
import { VirtualTime } from '../sim/virtual-time';
import { viewerRequestEvent } from './harness';
import { percentile } from './stats';

/** One workload under one rule. */
export interface SeveralLimitsRow {
  readonly workload: 'busy-key' | 'cold-keys';
  /** Limits the rule charges. */
  readonly limits: number;
  readonly requests: number;
  readonly admitted: number;
  readonly storeCallsPerAdmitted: number;
  readonly writesPerAdmitted: number;
  /** Virtual time the viewer waited for the limiter (ms). */
  readonly waitP50Ms: number;
  readonly waitP99Ms: number;
}

/** The part's result. */
export interface SeveralLimitsResult {
  readonly rule: string;
  readonly policies: readonly string[];
  readonly roundTripMs: number;
  readonly rows: readonly SeveralLimitsRow[];
}

/** Sizes of the part. */
export interface SeveralLimitsSizes {
  /** Virtual seconds each workload runs. */
  readonly seconds: number;
  /** Requests per second. */
  readonly ratePerSecond: number;
}

/** The rule measured: the shipped config's reads of `/api/**`. */
const RULE_ID = 'api';
/** One store round trip (ms): a nearby replica. */
const ROUND_TRIP_MS = 20;

/** A table in memory whose calls each take one round trip of virtual time. */
class RoundTripStore implements BucketStore {
  readonly #items = new Map<string, SlotItem>();
  calls = 0;
  writes = 0;

  constructor(
    private readonly time: VirtualTime,
    private readonly roundTripMs: number,
  ) {}

  async readView(bucketId: string): Promise<SlotItem[]> {
    await this.#trip();
    return [...this.#items.entries()]
      .filter(([k]) => k.startsWith(`${bucketId}|`))
      .map(([, v]) => v);
  }

  async readSlot(bucketId: string, slot: string): Promise<SlotItem | undefined> {
    await this.#trip();
    return this.#items.get(`${bucketId}|${slot}`);
  }

  async applyWrite(bucketId: string, write: SlotWrite): Promise<SlotItem> {
    await this.#trip();
    this.writes += 1;
    const key = `${bucketId}|${write.slot}`;
    const current = this.#items.get(key);
    const next = applySlotWrite(current, write);
    if (next === undefined) throw new StoreConflictError(current);
    this.#items.set(key, next);
    return next;
  }

  async applyTake(bucketId: string, take: TakeWrite): Promise<TakeResult> {
    await this.#trip();
    this.writes += 1;
    const key = `${bucketId}|${take.slot}`;
    const before = this.#items.get(key);
    const after = applyTakeWrite(before, take);
    if (after === undefined) throw new StoreConflictError(before);
    this.#items.set(key, after);
    return { before, after };
  }

  async #trip(): Promise<void> {
    this.calls += 1;
    await this.time.sleep(this.roundTripMs);
  }
}

/** The shipped config with the measured rule cut to its first limit. */
function firstLimitOnly(config: LimiterConfig): LimiterConfig {
  return {
    ...config,
    rules: config.rules.map((rule): RuleConfig => {
      if (rule.id !== RULE_ID || rule.limits === undefined) return rule;
      const { limits, ...rest } = rule;
      const [first] = limits;
      return first === undefined ? rule : { ...rest, ...first };
    }),
  };
}

async function runWorkload(
  config: LimiterConfig,
  workload: SeveralLimitsRow['workload'],
  sizes: SeveralLimitsSizes,
): Promise<SeveralLimitsRow> {
  const time = new VirtualTime(Date.parse('2026-12-01T12:00:00Z'));
  const store = new RoundTripStore(time, ROUND_TRIP_MS);
  const limiter = new Limiter({ config, region: 'us-east-1', store, time });
  const handler = createViewerRequestHandler({
    rules: compileRules(config),
    limiter,
    clock: time.now,
    log: () => undefined,
  });
  const gapMs = 1000 / sizes.ratePerSecond;
  const total = Math.round(sizes.seconds * sizes.ratePerSecond);
  const waits: number[] = [];
  let admitted = 0;
  for (let i = 0; i < total; i++) {
    const key = workload === 'busy-key' ? 'bench-key' : `bench-key-${i}`;
    const ip =
      workload === 'busy-key' ? '192.0.2.10' : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const startMs = time.now();
    const event = viewerRequestEvent({
      uri: '/api/items',
      apiKey: key,
      clientIp: ip,
      requestId: `bench-${i}`,
      userAgent: 'limits-bench/1.0',
    });
    const answer = await time.run(handler(event));
    waits.push(time.now() - startMs);
    if (answer != null && !('status' in answer)) admitted += 1;
    // A viewer-trigger container serves one request at a time; the next arrives a gap later.
    const nextMs = startMs + gapMs;
    if (time.now() < nextMs) await time.advance(Math.round(nextMs - time.now()));
  }
  await time.run(limiter.settled());
  const limits = compileRules(config).rules.find((r) => r.rule.id === RULE_ID)?.limits.length ?? 0;
  const sorted = [...waits].sort((a, b) => a - b);
  return {
    workload,
    limits,
    requests: total,
    admitted,
    storeCallsPerAdmitted: admitted === 0 ? 0 : store.calls / admitted,
    writesPerAdmitted: admitted === 0 ? 0 : store.writes / admitted,
    waitP50Ms: percentile(sorted, 50),
    waitP99Ms: percentile(sorted, 99),
  };
}

/** Measures both workloads under the shipped rule and under its first limit alone. */
export async function measureSeveralLimits(
  sizes: SeveralLimitsSizes,
  config: LimiterConfig = projectConfig,
): Promise<SeveralLimitsResult> {
  const rows: SeveralLimitsRow[] = [];
  for (const workload of ['busy-key', 'cold-keys'] as const) {
    rows.push(await runWorkload(firstLimitOnly(config), workload, sizes));
    rows.push(await runWorkload(config, workload, sizes));
  }
  const rule = compileRules(config).rules.find((r) => r.rule.id === RULE_ID);
  return {
    rule: RULE_ID,
    policies: rule?.limits.map((l) => l.policy.id) ?? [],
    roundTripMs: ROUND_TRIP_MS,
    rows,
  };
}

/** The part's section of the report. */
export function renderSeveralLimits(
  r: SeveralLimitsResult,
  heading = '## Several limits per request',
): string {
  const lines = [
    heading,
    '',
    `Rule \`${r.rule}\` of the shipped config (${r.policies.map((p) => `\`${p}\``).join(', ')}) against its first limit alone; every store call takes one ${r.roundTripMs} ms round trip of virtual time.`,
    '',
    '| workload | limits | requests | admitted | store calls / admitted | writes / admitted | wait p50 (ms) | wait p99 (ms) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of r.rows) {
    lines.push(
      `| ${row.workload} | ${row.limits} | ${row.requests} | ${row.admitted} | ${row.storeCallsPerAdmitted.toFixed(3)} | ${row.writesPerAdmitted.toFixed(3)} | ${row.waitP50Ms.toFixed(0)} | ${row.waitP99Ms.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}
