import { describe, expect, it } from 'vitest';
import { decide, inspect, viewOf, withItem, EMPTY_VIEW, type View } from '../functions/core';
const p = { capacityTokens: 10, refillTokens: 1, refillIntervalMs: 1000 };
describe('smoke', () => {
  it('works', () => {
    let view: View = EMPTY_VIEW;
    let admitted = 0;
    for (let i = 0; i < 15; i++) {
      const d = decide({ policy: p, view, slot: 'a', costTokens: 1, nowMs: 1000 });
      if (d.allowed) { admitted++; view = withItem(view, d.write.expected); }
    }
    expect(admitted).toBe(10);
    expect(inspect(p, view, 3000, 1).remainingTokens).toBe(2);
    // idle hour: burst limited to capacity
    let a2 = 0;
    for (let i = 0; i < 100; i++) {
      const d = decide({ policy: p, view, slot: 'b', costTokens: 1, nowMs: 3_600_000 });
      if (d.allowed) { a2++; view = withItem(view, d.write.expected); }
    }
    expect(a2).toBe(10);
  });
});
