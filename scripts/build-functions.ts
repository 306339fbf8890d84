/**
 * Bundles the Lambda functions with esbuild, the one build used by the CDK app
 * (`lambda.Code.fromAsset`) and by the local runtime, so what runs on a laptop
 * is byte for byte what is deployed.
 *
 * Why compile the config in: Lambda@Edge has no environment variables, so the
 * validated config is injected as a global (esbuild `define`): the regional
 * functions get the whole config as `__LIMITER_CONFIG__`, the edge functions
 * only what the edge reads (`edgeConfigOf`, functions/config/edge-config.ts)
 * as `__LIMITER_EDGE_CONFIG__`. Every function of one deployment decides with
 * the same policies, and a change the edge does not read (an alarm threshold,
 * a pager address) leaves the edge bundle byte for byte the same, so it
 * publishes no new Lambda@Edge version.
 *
 * Why bundle `@aws-sdk/*` everywhere (not only at the edge): the Node 20 Lambda
 * runtime ships an SDK v3 whose version changes under us; bundling pins the
 * version tested here and the local runtime has no runtime SDK to fall back on.
 * The cost is a larger regional bundle (well under the 50 MB limit).
 *
 * Each bundle is written to `dist/functions/<name>/<content hash>/index.js`, with
 * a `package.json` saying `commonjs` (the repo is ESM). A content-addressed
 * directory never changes once written, so parallel builds (tests, `cdk watch`)
 * cannot hand CDK a half-written asset.
 */

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { type BuildOptions, type BuildResult, build, buildSync } from 'esbuild';
import { edgeConfigOf } from '../functions/config/edge-config';
import { assertConfig, type LimiterConfig } from '../functions/config/schema';
import { checkConfig, configErrorText, loadConfigFile } from '../local/config-file';

/** Root of the repository (this file lives in `scripts/`). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where bundles go unless told otherwise (gitignored). */
export const DEFAULT_OUT_ROOT = join(REPO_ROOT, 'dist', 'functions');

/** Lambda@Edge viewer-request/viewer-response limit on the zipped package (1 MB). */
export const EDGE_VIEWER_MAX_ZIPPED_BYTES = 1024 * 1024;

/** Node version the bundles target; must match the Lambda runtime chosen in `infra/`. */
export const BUNDLE_TARGET = 'node20';

/** The module file inside each bundle directory. */
export const BUNDLE_FILE = 'index.js';

/** Where a function lives and how Lambda calls it. */
export interface FunctionSpec {
  /** Entry file, relative to the repository root. */
  readonly entry: string;
  /** Exported handler name. */
  readonly exportName: string;
  /** Runs at the edge: the viewer-trigger size limit applies. */
  readonly edge: boolean;
  /** The function is deployed only when its entry exists (an opt-in mechanism). */
  readonly optional: boolean;
}

/** Every function of the project, by name. */
export const FUNCTIONS = {
  edge: {
    entry: 'functions/edge/handler.ts',
    exportName: 'handler',
    edge: true,
    optional: false,
  },
  'edge-response': {
    entry: 'functions/edge/response-handler.ts',
    exportName: 'responseHandler',
    edge: true,
    optional: true,
  },
  api: { entry: 'functions/api/handler.ts', exportName: 'handler', edge: false, optional: false },
  reconciler: {
    entry: 'functions/reconciler/handler.ts',
    exportName: 'handler',
    edge: false,
    optional: false,
  },
} as const satisfies Record<string, FunctionSpec>;

/** A function name. */
export type FunctionName = keyof typeof FUNCTIONS;

/** The entry file of a function is missing. */
export class MissingEntryError extends Error {
  override readonly name = 'MissingEntryError';
  constructor(
    readonly functionName: FunctionName,
    readonly entry: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot bundle function "${functionName}": entry ${entry} does not exist`, options);
  }
}

/** esbuild failed, or a bundle breaks a Lambda limit. */
export class BundleError extends Error {
  override readonly name = 'BundleError';
  constructor(
    readonly functionName: FunctionName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot bundle function "${functionName}": ${message}`, options);
  }
}

/** Options of one build. */
export interface BuildFunctionOptions {
  readonly name: FunctionName;
  /** Validated first, then compiled in: whole as `__LIMITER_CONFIG__`, or for edge functions as `__LIMITER_EDGE_CONFIG__` ({@link configDefine}). */
  readonly config: LimiterConfig;
  /** @default {@link DEFAULT_OUT_ROOT} */
  readonly outRoot?: string;
  /** @default true */
  readonly minify?: boolean;
  /** Inline source map (local debugging; never for the edge size budget). @default false */
  readonly sourcemap?: boolean;
  /** Another entry file (absolute, or relative to the repository root). @default the function's entry */
  readonly entry?: string;
}

/** A written bundle. */
export interface BuiltFunction {
  readonly name: FunctionName;
  /** Absolute path of the entry file. */
  readonly entry: string;
  /** Absolute path of the bundle directory: the Lambda asset. */
  readonly directory: string;
  /** Absolute path of the module file. */
  readonly file: string;
  /** Lambda handler string, e.g. `index.handler`. */
  readonly handler: string;
  /** Exported handler name, for callers that load the module themselves. */
  readonly exportName: string;
  readonly bytes: number;
  /** Size once deflated, an estimate of the zipped package. */
  readonly zippedBytes: number;
  /** First 16 hex digits of the bundle's SHA-256. */
  readonly hash: string;
}

/** Absolute path of a function's entry. */
export function entryPath(name: FunctionName, override?: string): string {
  return resolve(REPO_ROOT, override ?? FUNCTIONS[name].entry);
}

/** Whether a function's entry exists (optional functions are deployed only then). */
export function hasEntry(name: FunctionName): boolean {
  return existsSync(entryPath(name));
}

/** The esbuild options of one function: pure, so tests and callers can inspect them. */
export function esbuildOptions(options: BuildFunctionOptions): BuildOptions {
  return {
    entryPoints: [entryPath(options.name, options.entry)],
    absWorkingDir: REPO_ROOT,
    bundle: true,
    platform: 'node',
    target: BUNDLE_TARGET,
    format: 'cjs',
    mainFields: ['module', 'main'],
    minify: options.minify ?? true,
    treeShaking: true,
    sourcemap: options.sourcemap === true ? 'inline' : false,
    legalComments: 'none',
    charset: 'utf8',
    define: configDefine(options.name, options.config),
    write: false,
    logLevel: 'silent',
  };
}

/**
 * The esbuild `define` carrying a function's config: an edge function gets
 * only the edge's part (`__LIMITER_EDGE_CONFIG__`), so what it does not read
 * cannot change its bundle; a regional function the whole config
 * (`__LIMITER_CONFIG__`).
 */
export function configDefine(name: FunctionName, config: LimiterConfig): Record<string, string> {
  return FUNCTIONS[name].edge
    ? { __LIMITER_EDGE_CONFIG__: JSON.stringify(edgeConfigOf(config)) }
    : { __LIMITER_CONFIG__: JSON.stringify(config) };
}

/** Bundles one function synchronously (the CDK app is synchronous). */
export function buildFunctionSync(options: BuildFunctionOptions): BuiltFunction {
  prepare(options);
  let result: BuildResult<{ write: false }>;
  try {
    result = buildSync(esbuildOptions(options) as BuildOptions & { write: false });
  } catch (cause) {
    throw new BundleError(options.name, describe(cause), { cause });
  }
  return writeBundle(options, result);
}

/** Bundles one function. */
export async function buildFunction(options: BuildFunctionOptions): Promise<BuiltFunction> {
  prepare(options);
  let result: BuildResult<{ write: false }>;
  try {
    result = await build(esbuildOptions(options) as BuildOptions & { write: false });
  } catch (cause) {
    throw new BundleError(options.name, describe(cause), { cause });
  }
  return writeBundle(options, result);
}

/**
 * Bundles every required function and every optional one whose entry exists.
 * Fails on the first missing required entry, naming it.
 */
export async function buildFunctions(
  config: LimiterConfig,
  options: Omit<BuildFunctionOptions, 'name' | 'config'> = {},
): Promise<Partial<Record<FunctionName, BuiltFunction>>> {
  const names = (Object.keys(FUNCTIONS) as FunctionName[]).filter(
    (n) => !FUNCTIONS[n].optional || hasEntry(n),
  );
  const built = await Promise.all(names.map((name) => buildFunction({ ...options, name, config })));
  return Object.fromEntries(built.map((b) => [b.name, b]));
}

function prepare(options: BuildFunctionOptions): void {
  assertConfig(options.config);
  const entry = entryPath(options.name, options.entry);
  if (!existsSync(entry)) {
    throw new MissingEntryError(options.name, relative(REPO_ROOT, entry));
  }
}

function writeBundle(
  options: BuildFunctionOptions,
  result: BuildResult<{ write: false }>,
): BuiltFunction {
  const spec: FunctionSpec = FUNCTIONS[options.name];
  const output = result.outputFiles[0];
  if (output === undefined) throw new BundleError(options.name, 'esbuild produced no output');
  const code = output.contents;
  const zippedBytes = deflateRawSync(code).byteLength;
  if (spec.edge && zippedBytes > EDGE_VIEWER_MAX_ZIPPED_BYTES) {
    throw new BundleError(
      options.name,
      `the bundle deflates to ${zippedBytes} bytes, above the Lambda@Edge viewer-trigger limit of ${EDGE_VIEWER_MAX_ZIPPED_BYTES}`,
    );
  }
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 16);
  const directory = join(options.outRoot ?? DEFAULT_OUT_ROOT, options.name, hash);
  const file = join(directory, BUNDLE_FILE);
  if (!existsSync(file)) {
    mkdirSync(directory, { recursive: true });
    writeAtomically(join(directory, 'package.json'), '{ "type": "commonjs" }\n');
    writeAtomically(file, code);
  }
  return {
    name: options.name,
    entry: entryPath(options.name, options.entry),
    directory,
    file,
    handler: `${BUNDLE_FILE.replace(/\.js$/, '')}.${spec.exportName}`,
    exportName: spec.exportName,
    bytes: code.byteLength,
    zippedBytes,
    hash,
  };
}

/** Write then rename, so a concurrent reader sees the old file or the whole new one. */
function writeAtomically(path: string, data: string | Uint8Array): void {
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(temporary, data);
  renameSync(temporary, path);
}

function describe(cause: unknown): string {
  if (cause !== null && typeof cause === 'object' && 'errors' in cause) {
    const errors = (
      cause as { errors: { text: string; location?: { file: string; line: number } }[] }
    ).errors;
    return errors
      .map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text))
      .join('; ');
  }
  return cause instanceof Error ? cause.message : String(cause);
}

/** `npm run build [-- --config FILE] [-- --out DIR]`: bundles everything and prints the sizes. */
async function main(argv: readonly string[]): Promise<void> {
  const flag = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const configFile = flag('--config') ?? join(REPO_ROOT, 'limiter.config.ts');
  const config = checkConfig(await loadConfigFile(configFile), configFile);
  const outDir = flag('--out');
  const built = await buildFunctions(config, outDir ? { outRoot: resolve(outDir) } : {});
  for (const b of Object.values(built)) {
    console.log(
      `${b.name.padEnd(14)} ${String(b.bytes).padStart(9)} B  (${b.zippedBytes} B deflated)  ${relative(REPO_ROOT, b.file)}`,
    );
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(configErrorText(error));
    process.exit(1);
  });
}
