/** The simulator's min-heap: items come out in the order it is given, ties broken as that order says. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MinHeap } from '../../sim/heap';

interface Item {
  readonly atMs: number;
  readonly seq: number;
}
const before = (a: Item, b: Item) => a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);

describe('MinHeap', () => {
  it('pops every item in (time, sequence) order, whatever order they were pushed in', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const heap = new MinHeap<Item>(before);
        for (const [seq, atMs] of times.entries()) heap.push({ atMs, seq });
        expect(heap.size).toBe(times.length);
        const out: Item[] = [];
        for (let item = heap.pop(); item !== undefined; item = heap.pop()) out.push(item);
        const expected = times
          .map((atMs, seq) => ({ atMs, seq }))
          .sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
        expect(out).toEqual(expected);
        expect(heap.peek()).toBeUndefined();
      }),
    );
  });

  it('peek shows what pop returns next, interleaved with pushes', () => {
    const heap = new MinHeap<Item>(before);
    heap.push({ atMs: 5, seq: 0 });
    heap.push({ atMs: 1, seq: 1 });
    expect(heap.peek()).toEqual({ atMs: 1, seq: 1 });
    expect(heap.pop()).toEqual({ atMs: 1, seq: 1 });
    heap.push({ atMs: 5, seq: 2 });
    heap.push({ atMs: 3, seq: 3 });
    expect([heap.pop(), heap.pop(), heap.pop()].map((i) => i?.seq)).toEqual([3, 0, 2]);
  });
});
