/**
 * Seeded pseudo-random numbers for the simulator.
 *
 * Why not Math.random: every run of a scenario with the same seed must
 * produce the same trace, the same lags and so the same figures, on any
 * machine. Streams are derived from (seed, label) so adding a draw to one
 * stream (say, traffic) never shifts another (say, replication lag).
 */

/** A deterministic stream of numbers in [0, 1) and helpers on top of it. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
  /** Exponentially distributed with the given mean. */
  exponential(mean: number): number;
}

/** FNV-1a over a label, mixed with the seed: independent stream seeds. */
export function deriveSeed(seed: number, label: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= Math.floor(seed / 2 ** 32) >>> 0;
  return Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 0;
}

/**
 * mulberry32: a small, fast seeded PRNG in [0, 1), good enough for simulation,
 * jitter and test histories (not for secrets). Shared by the simulator, the
 * region emulator and the core's lagged-history tests.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A labelled stream of the simulation's PRNG (mulberry32 over a derived seed). */
export function createRng(seed: number, label = ''): Rng {
  const next = mulberry32(deriveSeed(seed, label));
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    exponential: (mean) => -mean * Math.log(1 - next()),
  };
}
