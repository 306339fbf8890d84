/**
 * Textbook token buckets for the peers the simulator compares against, and
 * the forced replay that measures over-admission.
 *
 * Units: like the core, integers only. A bucket is given its capacity and
 * refill in "units" and "units per ms"; a strategy picks the unit so that
 * every quantity it needs is an integer (the static split uses 1 token =
 * refillIntervalMs × regions units, so C/N and R/N stay exact).
 */

/** A token bucket that starts full and refills continuously, capped at capacity. */
export class TokenBucket {
  private level: number;
  private lastMs = 0;

  constructor(
    private readonly capacityUnits: number,
    private readonly refillUnitsPerMs: number,
  ) {
    this.level = capacityUnits;
  }

  /** The level at `nowMs` (units). */
  levelAt(nowMs: number): number {
    return Math.min(this.capacityUnits, this.level + this.refillUnitsPerMs * (nowMs - this.lastMs));
  }

  /** Takes `units` if the bucket holds them; returns whether it did. */
  tryTake(nowMs: number, units: number): boolean {
    const level = this.levelAt(nowMs);
    if (level < units) return false;
    this.level = level - units;
    this.lastMs = nowMs;
    return true;
  }
}

/**
 * A full bucket that must accept every admission it is told about, going
 * negative if need be. Its lowest level is minus the worst over-admission in
 * any window: max over W of (admitted(W) − C − R·|W|).
 */
export class ForcedReplay {
  private level: number;
  private lastMs = 0;
  private lowest: number;

  constructor(
    private readonly capacityUnits: number,
    private readonly refillUnitsPerMs: number,
  ) {
    this.level = capacityUnits;
    this.lowest = capacityUnits;
  }

  /** The level at `nowMs`, given what was admitted so far (units). */
  levelAt(nowMs: number): number {
    return Math.min(this.capacityUnits, this.level + this.refillUnitsPerMs * (nowMs - this.lastMs));
  }

  /** Records an admission of `units` at `nowMs`. */
  admit(nowMs: number, units: number): void {
    this.level = this.levelAt(nowMs) - units;
    this.lastMs = nowMs;
    if (this.level < this.lowest) this.lowest = this.level;
  }

  /** Worst over-admission in any window so far (units, ≥ 0). */
  worstExcessUnits(): number {
    return Math.max(0, -this.lowest);
  }
}
