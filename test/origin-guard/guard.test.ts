/**
 * The origin guard against a scripted secret source and a frozen clock: both
 * values of a rotation pass, anything else is refused with its reason, values
 * are cached and reloaded on schedule, a wrong value reloads at most once per
 * recheck interval, and a source that fails keeps what was loaded (or fails
 * closed when nothing was).
 */
import { describe, expect, it } from 'vitest';
import {
  InvalidOriginGuardOptionsError,
  OriginGuard,
  type SecretSource,
} from '../../functions/origin-guard';

/** A source whose answers the test sets, counting its loads. */
class ScriptedSource implements SecretSource {
  loads = 0;
  values: readonly string[] = ['current-value'];
  failure: Error | undefined;
  pending: (() => void) | undefined;
  gate = false;

  async load(): Promise<readonly string[]> {
    this.loads += 1;
    if (this.gate) await new Promise<void>((resolve) => (this.pending = resolve));
    if (this.failure !== undefined) throw this.failure;
    return this.values;
  }
}

function setup(options: { refreshMs?: number; recheckMs?: number; retryMs?: number } = {}) {
  const source = new ScriptedSource();
  let now = 1_000_000;
  const errors: unknown[] = [];
  const guard = new OriginGuard({
    source,
    nowMs: () => now,
    onLoadError: (e) => errors.push(e),
    refreshMs: options.refreshMs ?? 60_000,
    recheckMs: options.recheckMs ?? 10_000,
    retryMs: options.retryMs ?? 1_000,
  });
  return {
    source,
    guard,
    errors,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('OriginGuard', () => {
  it.each([
    ['the current value', 'current-value', { allowed: true }],
    ['the previous value', 'previous-value', { allowed: true }],
    ['no header', undefined, { allowed: false, reason: 'missing', status: 403 }],
    ['an empty header', '', { allowed: false, reason: 'missing', status: 403 }],
    ['a wrong value', 'guess', { allowed: false, reason: 'mismatch', status: 403 }],
    ['a prefix of the value', 'current', { allowed: false, reason: 'mismatch', status: 403 }],
    [
      'the value twice',
      ['current-value', 'current-value'],
      { allowed: false, reason: 'mismatch', status: 403 },
    ],
    ['one value in a list', ['previous-value'], { allowed: true }],
  ] as const)('answers %s', async (_what, presented, expected) => {
    const { source, guard } = setup();
    source.values = ['current-value', 'previous-value'];
    expect(await guard.check(presented as string | string[] | undefined)).toEqual(expected);
  });

  it('loads once for concurrent first requests and caches until refreshMs', async () => {
    const { source, guard, advance } = setup({ refreshMs: 60_000 });
    source.gate = true;
    const first = Array.from({ length: 5 }, () => guard.check('current-value'));
    source.pending?.();
    expect((await Promise.all(first)).every((v) => v.allowed)).toBe(true);
    expect(source.loads).toBe(1);
    source.gate = false;
    advance(59_999);
    await guard.check('current-value');
    expect(source.loads).toBe(1);
    advance(1);
    await guard.check('current-value');
    expect(source.loads).toBe(2);
  });

  it('picks up a rotated value on the first mismatch, then reloads at most once per recheckMs', async () => {
    const { source, guard, advance } = setup({ recheckMs: 10_000 });
    await guard.check('current-value');
    advance(10_000);
    source.values = ['rotated-value', 'current-value'];
    expect(await guard.check('rotated-value')).toEqual({ allowed: true });
    expect(source.loads).toBe(2);
    for (let i = 0; i < 20; i += 1) {
      advance(100);
      expect((await guard.check(`guess-${i}`)).allowed).toBe(false);
    }
    expect(source.loads).toBe(2);
    advance(10_000);
    await guard.check('another-guess');
    expect(source.loads).toBe(3);
  });

  it('keeps the loaded values when a reload fails, and retries after recheckMs', async () => {
    const { source, guard, advance, errors } = setup({ refreshMs: 60_000, recheckMs: 10_000 });
    await guard.check('current-value');
    source.failure = new Error('throttled');
    advance(60_000);
    expect(await guard.check('current-value')).toEqual({ allowed: true });
    expect(errors).toHaveLength(1);
    advance(1_000);
    expect(await guard.check('current-value')).toEqual({ allowed: true });
    expect(source.loads).toBe(2);
    advance(9_000);
    source.failure = undefined;
    source.values = ['next-value'];
    await guard.check('next-value');
    expect(source.loads).toBe(3);
    expect(await guard.check('current-value')).toMatchObject({
      allowed: false,
      reason: 'mismatch',
    });
  });

  it('fails closed with 503 while nothing could be loaded, retrying once per retryMs', async () => {
    const { source, guard, advance } = setup({ retryMs: 1_000 });
    source.failure = new Error('access denied');
    expect(await guard.check('current-value')).toEqual({
      allowed: false,
      reason: 'unavailable',
      status: 503,
    });
    await guard.check('current-value');
    expect(source.loads).toBe(1);
    advance(1_000);
    source.failure = undefined;
    expect(await guard.check('current-value')).toEqual({ allowed: true });
    expect(source.loads).toBe(2);
  });

  it('treats a source that returns no value as a failed load', async () => {
    const { source, guard, errors } = setup();
    source.values = ['', ''];
    expect(await guard.check('')).toMatchObject({ reason: 'missing' });
    expect(await guard.check('x')).toMatchObject({ reason: 'unavailable', status: 503 });
    expect(String(errors[0])).toContain('no value');
  });

  it('refuses unusable options, naming each', () => {
    let error: unknown;
    try {
      new OriginGuard({
        source: new ScriptedSource(),
        headerName: 'X Origin',
        refreshMs: 0,
        retryMs: 1.5,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOriginGuardOptionsError);
    const problems = (error as InvalidOriginGuardOptionsError).problems;
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/headerName[\s\S]*refreshMs[\s\S]*retryMs/);
  });
});
