/**
 * The config compiled into a function bundle. Lambda@Edge has no environment
 * variables, so scripts/build-functions.ts injects the validated config with
 * esbuild's `define`: the regional functions get the whole config as the
 * global `__LIMITER_CONFIG__`, the edge functions only their part of it
 * (functions/config/edge-config.ts) as `__LIMITER_EDGE_CONFIG__`, so that a
 * change the edge does not read publishes no new Lambda@Edge version. Every
 * function of a deployment runs the exact config that was synthesised.
 * Nothing is imported as a fallback: a bundle built without its define fails
 * loudly at its first invocation.
 */
import { assertEdgeConfig, type EdgeConfig } from '../config/edge-config';
import { assertConfig, type LimiterConfig } from '../config/schema';

declare const __LIMITER_CONFIG__: LimiterConfig | undefined;
declare const __LIMITER_EDGE_CONFIG__: EdgeConfig | undefined;

/** The bundle was built without its config define (`__LIMITER_CONFIG__` or `__LIMITER_EDGE_CONFIG__`). */
export class MissingBundledConfigError extends Error {
  override readonly name = 'MissingBundledConfigError';
  constructor(options?: { cause?: unknown; define?: string }) {
    super(
      `no limiter config compiled into this bundle: build it with scripts/build-functions.ts, which defines ${options?.define ?? '__LIMITER_CONFIG__'}`,
      options,
    );
  }
}

let cached: LimiterConfig | undefined;

/**
 * The compiled-in config, validated once per container.
 *
 * @throws {@link MissingBundledConfigError} when the bundle has none.
 * @throws InvalidConfigError when it is invalid (listing every problem).
 */
export function bundledConfig(): LimiterConfig {
  if (cached !== undefined) return cached;
  if (typeof __LIMITER_CONFIG__ === 'undefined') throw new MissingBundledConfigError();
  cached = assertConfig(__LIMITER_CONFIG__);
  return cached;
}

let cachedEdge: EdgeConfig | undefined;

/**
 * The edge's compiled-in part of the config, validated once per container.
 *
 * @throws {@link MissingBundledConfigError} when the bundle has none.
 * @throws InvalidConfigError when it is invalid (listing every problem).
 */
export function bundledEdgeConfig(): EdgeConfig {
  if (cachedEdge !== undefined) return cachedEdge;
  if (typeof __LIMITER_EDGE_CONFIG__ === 'undefined') {
    throw new MissingBundledConfigError({ define: '__LIMITER_EDGE_CONFIG__' });
  }
  cachedEdge = assertEdgeConfig(__LIMITER_EDGE_CONFIG__);
  return cachedEdge;
}
