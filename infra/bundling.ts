/**
 * The bridge between `scripts/build-functions.ts` and CDK: bundles a function
 * once per process and config (the regional stacks share one bundle) and
 * hands `lambda.Code.fromAsset` the content-addressed directory. No Docker:
 * esbuild runs in this process.
 */

import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { LimiterConfig } from '../functions/config/schema';
import {
  type BuiltFunction,
  buildFunctionSync,
  type FunctionName,
  hasEntry,
} from '../scripts/build-functions';

/** A bundled function, ready for a `lambda.Function`. */
export interface FunctionBundle {
  readonly code: lambda.Code;
  /** Lambda handler string, e.g. `index.handler`. */
  readonly handler: string;
  readonly built: BuiltFunction;
}

const cache = new Map<string, BuiltFunction>();

/** Bundles `name` with `config` compiled in (cached per process). */
export function functionBundle(name: FunctionName, config: LimiterConfig): FunctionBundle {
  const key = `${name}\u0000${JSON.stringify(config)}`;
  let built = cache.get(key);
  if (built === undefined) {
    built = buildFunctionSync({ name, config });
    cache.set(key, built);
  }
  return { code: lambda.Code.fromAsset(built.directory), handler: built.handler, built };
}

/** Whether an optional function (e.g. the viewer-response handler) is part of this tree. */
export function hasFunction(name: FunctionName): boolean {
  return hasEntry(name);
}
