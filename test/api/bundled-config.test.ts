/** The compiled-in config: a clear error without it, validated when present. */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidConfigError } from '../../functions/config/schema';
import { bundledConfig, MissingBundledConfigError } from '../../functions/shared/bundled-config';
import { configWith } from '../limiter/fixtures';

const globals = globalThis as { __LIMITER_CONFIG__?: unknown };

afterEach(() => {
  delete globals.__LIMITER_CONFIG__;
});

describe('bundledConfig', () => {
  it('fails with a message naming the build script when nothing was compiled in', () => {
    expect(() => bundledConfig()).toThrow(MissingBundledConfigError);
    expect(() => bundledConfig()).toThrow(/build-functions/);
  });

  it('refuses an invalid compiled-in config, listing the problem', () => {
    globals.__LIMITER_CONFIG__ = {
      ...configWith([{ id: 'a', capacityTokens: 1, refillTokens: 1 }]),
      account: 'x',
    };
    expect(() => bundledConfig()).toThrow(InvalidConfigError);
  });

  it('returns the compiled-in config once valid', () => {
    const config = configWith([{ id: 'a', capacityTokens: 1, refillTokens: 1 }]);
    globals.__LIMITER_CONFIG__ = config;
    expect(bundledConfig()).toBe(config);
  });
});
