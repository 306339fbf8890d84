/**
 * Traces: the requests a scenario offers, generated once per (scenario, seed)
 * and fed unchanged to every strategy, so differences between strategies come
 * from the strategies alone.
 *
 * Arrivals are Poisson processes per region; time-varying rates (the diurnal
 * wave) use thinning: draw at the peak rate, keep each arrival with
 * probability rate(t) / peak.
 */

import { createRng, type Rng } from './prng';
import type { ScenarioSpec, SimRequest } from './types';

interface Arrival {
  readonly atMs: number;
  readonly region: string;
}

/** Poisson arrivals in [fromMs, toMs) at `rate(t)` requests per second, never above `peak`. */
function poisson(
  rng: Rng,
  region: string,
  fromMs: number,
  toMs: number,
  peakPerSecond: number,
  rate: (atMs: number) => number = () => peakPerSecond,
): Arrival[] {
  const out: Arrival[] = [];
  if (peakPerSecond <= 0) return out;
  const meanGapMs = 1000 / peakPerSecond;
  let t = fromMs;
  for (;;) {
    t += rng.exponential(meanGapMs);
    if (t >= toMs) return out;
    if (rng.next() * peakPerSecond < rate(t)) out.push({ atMs: Math.floor(t), region });
  }
}

/** Generates the trace of a scenario: requests sorted by time, then region order. */
export function generateTrace(spec: ScenarioSpec, seed: number): SimRequest[] {
  const rng = createRng(seed, `traffic:${spec.name}`);
  const { traffic, regions, durationMs } = spec;
  const arrivals: Arrival[] = [];
  switch (traffic.kind) {
    case 'uniform':
      for (const region of regions) {
        arrivals.push(
          ...poisson(rng, region, 0, durationMs, traffic.requestsPerSecond / regions.length),
        );
      }
      break;
    case 'skewed':
      regions.forEach((region, i) => {
        const share = traffic.shares[i] ?? 0;
        arrivals.push(...poisson(rng, region, 0, durationMs, traffic.requestsPerSecond * share));
      });
      break;
    case 'idle-burst': {
      const burstFromMs = traffic.warmupMs + traffic.idleMs;
      const burstToMs = Math.min(durationMs, burstFromMs + traffic.burstMs);
      for (const region of regions) {
        const warmup = traffic.warmupRequestsPerSecond / regions.length;
        arrivals.push(...poisson(rng, region, 0, traffic.warmupMs, warmup));
        arrivals.push(
          ...poisson(rng, region, burstFromMs, burstToMs, traffic.burstRequestsPerSecondPerRegion),
        );
      }
      break;
    }
    case 'diurnal':
      regions.forEach((region, i) => {
        const phase = (2 * Math.PI * i) / regions.length;
        const { minRequestsPerSecond: low, maxRequestsPerSecond: high, periodMs } = traffic;
        const rate = (atMs: number) =>
          low + ((high - low) * (1 + Math.sin((2 * Math.PI * atMs) / periodMs + phase))) / 2;
        arrivals.push(...poisson(rng, region, 0, durationMs, high, rate));
      });
      break;
  }
  const order = new Map(regions.map((r, i) => [r, i]));
  arrivals.sort((a, b) => a.atMs - b.atMs || order.get(a.region)! - order.get(b.region)!);
  const cost = spec.costTokens ?? { min: 1, max: 1 };
  return arrivals.map((a, index) => ({
    index,
    atMs: a.atMs,
    region: a.region,
    costTokens: cost.min === cost.max ? cost.min : rng.int(cost.min, cost.max),
  }));
}
