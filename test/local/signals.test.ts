import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { DUPLICATE_SIGNAL_WINDOW_MS, ShutdownSignals } from '../../local/signals';

/** A signal source and a clock the test moves by hand. */
function setup() {
  const source = new EventEmitter();
  let nowMs = 1_000_000;
  const insisted: NodeJS.Signals[] = [];
  const signals = new ShutdownSignals({
    source: {
      on: (s, l) => source.on(s, l),
      off: (s, l) => source.off(s, l),
    },
    nowMs: () => nowMs,
    onInsist: (s) => insisted.push(s),
  });
  let first: NodeJS.Signals | undefined;
  void signals.requested.then((s) => {
    first = s;
  });
  return {
    source,
    signals,
    insisted,
    first: () => first,
    send: (signal: NodeJS.Signals) => source.emit(signal, signal),
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ShutdownSignals', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'asks for a clean stop on the first %s',
    async (signal) => {
      const t = setup();
      expect(t.source.listenerCount(signal)).toBe(1);
      t.send(signal);
      await settle();
      expect(t.first()).toBe(signal);
      expect(t.insisted).toEqual([]);
    },
  );

  it('takes copies of the first signal within the window for the same request', async () => {
    const t = setup();
    t.send('SIGINT');
    // The terminal's Ctrl-C, then npm's and tsx's forwarded copies.
    t.advance(5);
    t.send('SIGINT');
    t.advance(DUPLICATE_SIGNAL_WINDOW_MS - 10);
    t.send('SIGINT');
    await settle();
    expect(t.first()).toBe('SIGINT');
    expect(t.insisted).toEqual([]);
  });

  it('exits at once on a second signal after the window, or on another signal', () => {
    const later = setup();
    later.send('SIGINT');
    later.advance(DUPLICATE_SIGNAL_WINDOW_MS);
    later.send('SIGINT');
    expect(later.insisted).toEqual(['SIGINT']);

    const other = setup();
    other.send('SIGINT');
    other.advance(1);
    other.send('SIGTERM');
    expect(other.insisted).toEqual(['SIGTERM']);
  });

  it('stops listening when disposed', () => {
    const t = setup();
    t.signals.dispose();
    expect(t.source.listenerCount('SIGINT')).toBe(0);
    expect(t.source.listenerCount('SIGTERM')).toBe(0);
  });
});
