/**
 * Loading the project's functions for one emulated region.
 *
 * The edge and API handlers run from the *same bundles that deploy*
 * (scripts/build-functions.ts), loaded with `require()`; nothing is imported
 * from their TypeScript sources. One process emulates several regions, so
 * each region gets its own module instance of each bundle (its own caches,
 * clients and counters, as separate Lambda containers would have): the module
 * is evicted from the require cache after each load.
 *
 * The reconciler runs its injectable core (`reconcile`) on the dependencies
 * its Lambda composition root builds (`reconcilerDependencies`), pointed at
 * the emulated replicas and with no CloudWatch: its findings are read back
 * from the status item it writes, as `GET /health` does.
 */

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { build } from 'esbuild';
import { clientHeadersMode } from '../functions/config/client-headers';
import type { LimiterConfig } from '../functions/config/schema';
import { storeEndpointsDefine } from '../functions/edge/build-defines';
import { ORIGIN_HEADERS } from '../functions/edge/responses';
import { reconcilerDependencies } from '../functions/reconciler/handler';
import {
  type ReconcilerLogger,
  type ReconcilerOptions,
  reconcile,
} from '../functions/reconciler/reconcile';
import {
  BUNDLE_FILE,
  type BuiltFunction,
  BundleError,
  entryPath,
  esbuildOptions,
  FUNCTIONS,
  type FunctionName,
  hasEntry,
  MissingEntryError,
  REPO_ROOT,
} from '../scripts/build-functions';
import type { ApiHandler } from './api-server';
import type { EdgeFunctions, EdgeOutcome } from './edge-server';
import { LOCAL_CREDENTIALS } from './emulator';
import type { EdgeCounters } from './status';

const require = createRequire(import.meta.url);

/** One region's reconciler, as the runtime's timer drives it. */
export interface Reconciler {
  /** One run; resolves when its status item is written (or failed to be). */
  run(): Promise<void>;
  /** Stops a run in progress as soon as possible. */
  abort(): void;
  /**
   * Per other region, the width of the window the last run's probe placed
   * the heartbeat's arrival in (ms): its lag estimate is the middle of it.
   */
  lagResolutionMs(): Readonly<Record<string, number>>;
}

/** Everything of one region the runtime serves. */
export interface LoadedRegion {
  readonly edge: EdgeFunctions;
  readonly api: ApiHandler;
  readonly reconciler: Reconciler;
  /** Updates counters from what the edge did (e.g. fallbacks the handler marked). */
  readonly observe?: (outcome: EdgeOutcome, counters: EdgeCounters) => void;
}

/** What {@link loadRegionFunctions} needs. */
export interface LoadRegionOptions {
  readonly config: LimiterConfig;
  readonly region: string;
  /** Region → DynamoDB endpoint of the emulated replica. */
  readonly storeEndpoints: Readonly<Record<string, string>>;
  readonly log: (line: string) => void;
  /** Reconciler tuning for the next run (local runs wait less for heartbeats). */
  readonly reconcilerOptions?: () => ReconcilerOptions;
}

/** A bundle could not be loaded, or does not export its handler. */
export class BundleLoadError extends Error {
  override readonly name = 'BundleLoadError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The bundles the local runtime runs, built once for every region. */
export interface Bundles {
  readonly edge: BuiltFunction;
  /** Present when a deployment of the config would run the viewer-response function. */
  readonly edgeResponse?: BuiltFunction;
  readonly api: BuiltFunction;
}

/**
 * Builds the edge and API bundles with the runtime's config: the esbuild
 * options of the deployment build (scripts/build-functions.ts), plus, for the
 * edge, the define that points it at the emulated replicas
 * (functions/edge/build-defines.ts). The API takes its endpoint from the
 * environment it is loaded with. Bundles are written content-addressed under
 * `dist/local/`, apart from the deployable assets.
 *
 * The viewer-response bundle is built when the deployed edge would run it
 * ({@link viewerResponseDeployed}), so admitted responses carry the RateLimit
 * headers locally exactly when they would behind CloudFront.
 */
export async function buildBundles(
  config: LimiterConfig,
  storeEndpoints: Readonly<Record<string, string>>,
): Promise<Bundles> {
  const endpoints = storeEndpointsDefine(storeEndpoints);
  const [edge, edgeResponse, api] = await Promise.all([
    buildLocalBundle('edge', config, endpoints),
    viewerResponseDeployed(config) ? buildLocalBundle('edge-response', config, {}) : undefined,
    buildLocalBundle('api', config, {}),
  ]);
  return { edge, ...(edgeResponse === undefined ? {} : { edgeResponse }), api };
}

/**
 * Whether a deployment of `config` runs the viewer-response function: the
 * config asks for it (`clientHeaders: 'viewer-response'`; the default is
 * `none`) and the project has its entry. The stacks decide the same way
 * (infra/defaults.ts `edgeFunctionRoles`; infra/limiter-app.ts refuses the
 * mode without the entry).
 */
export function viewerResponseDeployed(config: LimiterConfig): boolean {
  return clientHeadersMode(config) === 'viewer-response' && hasEntry('edge-response');
}

/** Where the local runtime's bundles go (gitignored with dist/). */
export const LOCAL_BUNDLE_ROOT = path.join(REPO_ROOT, 'dist', 'local');

/** One bundle: the deployment's esbuild options with `extraDefine` added. */
export async function buildLocalBundle(
  name: FunctionName,
  config: LimiterConfig,
  extraDefine: Readonly<Record<string, string>>,
): Promise<BuiltFunction> {
  if (!hasEntry(name)) throw new MissingEntryError(name, FUNCTIONS[name].entry);
  const base = esbuildOptions({ name, config });
  let code: Uint8Array;
  try {
    const result = await build({
      ...base,
      define: { ...base.define, ...extraDefine },
      write: false,
    });
    const output = result.outputFiles[0];
    if (output === undefined) throw new Error('esbuild produced no output');
    code = output.contents;
  } catch (cause) {
    throw new BundleError(name, cause instanceof Error ? cause.message : String(cause), { cause });
  }
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  const directory = path.join(LOCAL_BUNDLE_ROOT, name, hash);
  const file = path.join(directory, BUNDLE_FILE);
  if (!existsSync(file)) {
    await mkdir(directory, { recursive: true });
    await writeAtomically(path.join(directory, 'package.json'), '{ "type": "commonjs" }\n');
    await writeAtomically(file, code);
  }
  const spec = FUNCTIONS[name];
  return {
    name,
    entry: entryPath(name),
    directory,
    file,
    handler: `index.${spec.exportName}`,
    exportName: spec.exportName,
    bytes: code.byteLength,
    zippedBytes: deflateRawSync(code).byteLength,
    hash,
  };
}

/** Write then rename: parallel runtimes (test files) never load a half-written bundle. */
async function writeAtomically(file: string, data: string | Uint8Array): Promise<void> {
  const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(temporary, data);
  await rename(temporary, file);
}

/**
 * Loads a fresh instance of each bundle for `region` (its own containers, so
 * to speak) and prepares its reconciler.
 */
export function loadRegionFunctions(bundles: Bundles, options: LoadRegionOptions): LoadedRegion {
  const env = {
    AWS_REGION: options.region,
    LIMITER_DYNAMODB_ENDPOINT: options.storeEndpoints[options.region] as string,
  };
  return {
    edge: loadEdgeFunctions(bundles, options.region),
    api: exportOf<ApiHandler>(loadFresh(bundles.api, env), bundles.api),
    reconciler: localReconciler(options),
    observe: countFallbacks,
  };
}

/**
 * A fresh instance of the edge functions for `region` (a container of its
 * own): the viewer-request handler bound to the region, and the
 * viewer-response one when it was built. An edge region that holds no
 * replica loads only these.
 */
export function loadEdgeFunctions(
  bundles: Pick<Bundles, 'edge' | 'edgeResponse'>,
  region: string,
): EdgeFunctions {
  const env = { AWS_REGION: region };
  // The bundle's own entry point reads AWS_REGION per invocation, and one
  // process serves several regions: bind the region through the bundle's
  // handlerForRegion instead.
  const edgeModule = loadFresh(bundles.edge, env);
  const forRegion = exportOf<(region: string) => EdgeFunctions['viewerRequest']>(
    edgeModule,
    bundles.edge,
    'handlerForRegion',
  );
  const viewerRequest = forRegion(region);
  const viewerResponse =
    bundles.edgeResponse === undefined
      ? undefined
      : exportOf<NonNullable<EdgeFunctions['viewerResponse']>>(
          loadFresh(bundles.edgeResponse, env),
          bundles.edgeResponse,
        );
  return { viewerRequest, ...(viewerResponse === undefined ? {} : { viewerResponse }) };
}

/**
 * An edge bundle whose store calls go to `endpoints` (replica region →
 * endpoint): with the network model each edge region gets its own, pointed
 * at its delaying proxies.
 */
export function buildEdgeBundle(
  config: LimiterConfig,
  endpoints: Readonly<Record<string, string>>,
): Promise<BuiltFunction> {
  return buildLocalBundle('edge', config, storeEndpointsDefine(endpoints));
}

/**
 * Counts the decisions a failure mode took, from what the edge handler
 * returned: a forwarded request marked `x-ratelimit-fallback` (open, local)
 * or a generated 503 (closed: the only 503 the edge generates).
 */
export function countFallbacks(outcome: EdgeOutcome, counters: EdgeCounters): void {
  if (
    outcome.kind === 'forwarded' &&
    outcome.request.headers[ORIGIN_HEADERS.fallback] !== undefined
  ) {
    counters.fallbacks++;
  } else if (outcome.kind === 'generated' && outcome.status === 503) {
    counters.fallbacks++;
  }
}

/** The reconciler of one region on the emulated replicas. */
export function localReconciler(options: LoadRegionOptions): Reconciler {
  const { config, region, storeEndpoints } = options;
  let aborted = false;
  // Each kind of error is logged once until a run succeeds without errors:
  // a region taken down for a demo must not print the same lines every pass.
  const reported = new Set<string>();
  let resolutions: Record<string, number> = {};
  let measuring: Record<string, number> = {};
  const logger: ReconcilerLogger = {
    info: (message, attributes) => {
      if (message !== 'replication lag measured') return;
      const { receivingRegion, resolutionMs } = attributes;
      if (typeof receivingRegion === 'string' && typeof resolutionMs === 'number') {
        measuring[receivingRegion] = resolutionMs;
      }
    },
    warn: () => undefined,
    error: (message, attributes) => {
      // Calls cut short by a stop fail; that is not news.
      if (aborted || reported.has(message)) return;
      reported.add(message);
      options.log(`reconciler ${region}: ${message} ${JSON.stringify(attributes)}`);
    },
  };
  const container = reconcilerDependencies(config, region, {
    endpoints: storeEndpoints,
    credentials: LOCAL_CREDENTIALS,
    // Nothing to publish to locally: the findings are in the status item.
    metrics: { publish: async () => undefined },
    logger,
    ...(options.reconcilerOptions === undefined ? {} : { options: options.reconcilerOptions() }),
  });
  return {
    async run() {
      if (aborted) return;
      measuring = {};
      const result = await reconcile({
        ...container,
        // The tuning follows the runtime's current lag (it can change between runs).
        ...(options.reconcilerOptions === undefined
          ? {}
          : { options: options.reconcilerOptions() }),
      });
      resolutions = measuring;
      if (result.status.errorCount === 0) reported.clear();
      if (result.statusError !== undefined) {
        throw new Error(`status write failed: ${String(result.statusError)}`, {
          cause: result.statusError,
        });
      }
    },
    lagResolutionMs: () => resolutions,
    abort() {
      aborted = true;
      container.close();
    },
  };
}

/**
 * A fresh module instance of a bundle (evicted from the cache so the next load
 * is fresh too), loaded with `env` in `process.env`: a Lambda's environment is
 * fixed per container, and the handlers capture it when their module loads.
 * `require()` is synchronous, so no other code runs while `env` is in place.
 */
function loadFresh(
  bundle: BuiltFunction,
  env: Readonly<Record<string, string>> = {},
): Record<string, unknown> {
  const resolved = require.resolve(bundle.file);
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  delete require.cache[resolved];
  try {
    return require(resolved) as Record<string, unknown>;
  } catch (error) {
    throw new BundleLoadError(`loading the ${bundle.name} bundle failed: ${String(error)}`, {
      cause: error,
    });
  } finally {
    delete require.cache[resolved];
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

function exportOf<T>(
  mod: Record<string, unknown>,
  bundle: BuiltFunction,
  exportName = bundle.exportName,
): T {
  const fn = mod[exportName];
  if (typeof fn !== 'function') {
    throw new BundleLoadError(
      `the ${bundle.name} bundle (${FUNCTIONS[bundle.name].entry}) does not export "${exportName}"`,
    );
  }
  return fn as T;
}
