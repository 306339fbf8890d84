/** The compiled-in config: a clear error without it, validated when present. */
import { afterEach, describe, expect, it } from 'vitest';
import { edgeConfigOf } from '../../functions/config/edge-config';
import { InvalidConfigError } from '../../functions/config/schema';
import {
  bundledConfig,
  bundledEdgeConfig,
  MissingBundledConfigError,
} from '../../functions/shared/bundled-config';
import { configWith } from '../limiter/fixtures';

const globals = globalThis as { __LIMITER_CONFIG__?: unknown; __LIMITER_EDGE_CONFIG__?: unknown };

afterEach(() => {
  delete globals.__LIMITER_CONFIG__;
  delete globals.__LIMITER_EDGE_CONFIG__;
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

describe('bundledEdgeConfig', () => {
  it('fails naming the edge define when nothing was compiled in, even with the whole config', () => {
    globals.__LIMITER_CONFIG__ = configWith([{ id: 'a', capacityTokens: 1, refillTokens: 1 }]);
    expect(() => bundledEdgeConfig()).toThrow(MissingBundledConfigError);
    expect(() => bundledEdgeConfig()).toThrow(/defines __LIMITER_EDGE_CONFIG__/);
  });

  it('refuses an invalid edge config, listing the problem', () => {
    const edge = edgeConfigOf(configWith([{ id: 'a', capacityTokens: 1, refillTokens: 1 }]));
    globals.__LIMITER_EDGE_CONFIG__ = { ...edge, tableName: 'x' };
    expect(() => bundledEdgeConfig()).toThrow(InvalidConfigError);
    expect(() => bundledEdgeConfig()).toThrow(/tableName/);
  });

  it('returns the compiled-in edge config once valid', () => {
    const edge = edgeConfigOf(configWith([{ id: 'a', capacityTokens: 1, refillTokens: 1 }]));
    globals.__LIMITER_EDGE_CONFIG__ = edge;
    expect(bundledEdgeConfig()).toBe(edge);
  });
});
