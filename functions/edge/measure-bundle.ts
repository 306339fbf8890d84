/**
 * Measures the Lambda@Edge bundles: size (raw, deflated, and a real zip when
 * the `zip` tool exists) against the viewer-trigger limit of 1 MB zipped and
 * the project's goal of 300 KB, and cold-start init time. The viewer-request
 * bundle is built twice, on the light transport it deploys with
 * (functions/store/http-transport.ts) and on today's SDK client
 * (functions/store/sdk-transport.ts, swapped in by an esbuild plugin), and
 * both are measured side by side in one run, their fresh processes
 * interleaved so that the machine's noise falls on both alike.
 *
 * Why these numbers: Lambda@Edge refuses viewer-trigger packages above 1 MB
 * zipped, and a cold container pays for loading and initialising the bundle
 * before the viewer's request is answered. "Init" here is what this code
 * adds to a cold start, in a fresh `node` process per run: `require` of the
 * bundle, then building the container (config validation, rule compilation,
 * DynamoDB client, limiter) without any network call. The Lambda runtime's
 * own start-up comes on top and is not ours to shrink.
 *
 * Not part of any bundle. Run: `npx tsx functions/edge/measure-bundle.ts [--runs N] [--config FILE]`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { type BuildOptions, build, type Plugin } from 'esbuild';
import {
  EDGE_VIEWER_MAX_ZIPPED_BYTES,
  esbuildOptions,
  REPO_ROOT,
} from '../../scripts/build-functions';
import type { LimiterConfig } from '../config/schema';

/** The project's goal for the zipped edge bundle. */
export const EDGE_BUNDLE_GOAL_BYTES = 300 * 1024;

/** Size of one bundle. */
export interface BundleSize {
  readonly name: 'edge' | 'edge-response';
  readonly bytes: number;
  readonly deflatedBytes: number;
  /** Size of `index.js` in a real zip archive; undefined without the `zip` tool. */
  readonly zipBytes: number | undefined;
}

/** Cold-start timings of the viewer-request bundle (ms), one entry per fresh process. */
export interface ColdStart {
  readonly requireMs: readonly number[];
  readonly initMs: readonly number[];
}

/** The DynamoDB transport a viewer-request bundle is built on. */
export type EdgeTransport = 'light' | 'sdk';

/** What {@link measureEdgeBundles} measured. */
export interface EdgeBundleMeasurement {
  /** Both edge bundles as deployed (the viewer-request one on the light transport). */
  readonly sizes: readonly BundleSize[];
  /** The viewer-request bundle on today's SDK client, for comparison. */
  readonly sdkSize: BundleSize;
  /** Cold start of the viewer-request bundle on each transport, from interleaved fresh processes. */
  readonly coldStart: Readonly<Record<EdgeTransport, ColdStart>>;
}

/**
 * Builds the viewer-request bundle on the SDK transport: the edge handler's
 * import of the light transport resolves to a module that hands out
 * sdk-transport.ts's factory under the light one's name, so nothing else of
 * the bundle changes.
 */
function sdkTransportAtTheEdge(): Plugin {
  const handler = resolve(REPO_ROOT, 'functions/edge/handler.ts');
  return {
    name: 'sdk-transport-at-the-edge',
    setup(b) {
      b.onResolve({ filter: /\/store\/http-transport$/ }, (args) =>
        resolve(args.importer) === handler
          ? { path: 'sdk-transport', namespace: 'edge-transport' }
          : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: 'edge-transport' }, () => ({
        contents: `export { sdkTransport as httpTransport } from ${JSON.stringify(
          resolve(REPO_ROOT, 'functions/store/sdk-transport.ts'),
        )};`,
        loader: 'ts',
        resolveDir: REPO_ROOT,
      }));
    },
  };
}

async function bundleTo(
  dir: string,
  name: BundleSize['name'],
  config: LimiterConfig,
  transport: EdgeTransport = 'light',
): Promise<{ file: string; size: BundleSize }> {
  const result = await build({
    ...esbuildOptions({ name, config }),
    ...(transport === 'sdk' ? { plugins: [sdkTransportAtTheEdge()] } : {}),
    metafile: true,
    write: false,
  } as BuildOptions & { write: false; metafile: true });
  const code = result.outputFiles[0]!.contents;
  const carriesSdk = Object.keys(result.metafile.inputs).some((f) =>
    f.includes('node_modules/@aws-sdk/client-dynamodb/'),
  );
  // A comparison of two equal bundles would say nothing: check the swap took place.
  if (name === 'edge' && carriesSdk !== (transport === 'sdk')) {
    throw new Error(
      `the ${transport} viewer-request bundle ${carriesSdk ? 'carries' : 'lacks'} the DynamoDB SDK client`,
    );
  }
  const sub = join(dir, `${name}-${transport}`);
  mkdirSync(sub, { recursive: true });
  const file = join(sub, 'index.js');
  writeFileSync(file, code);
  writeFileSync(join(sub, 'package.json'), '{ "type": "commonjs" }\n');
  let zipBytes: number | undefined;
  const zip = spawnSync('zip', ['-q', '-9', join(sub, 'bundle.zip'), 'index.js', 'package.json'], {
    cwd: sub,
  });
  if (zip.status === 0) zipBytes = statSync(join(sub, 'bundle.zip')).size;
  return {
    file,
    size: {
      name,
      bytes: code.byteLength,
      deflatedBytes: deflateRawSync(code, { level: 9 }).byteLength,
      zipBytes,
    },
  };
}

/** Loads the bundle in a fresh process and times `require` and the container build. */
function coldStartOnce(file: string): { requireMs: number; initMs: number } {
  const script = `
    const t0 = performance.now();
    const m = require(${JSON.stringify(file)});
    const t1 = performance.now();
    m.replicaRegionFor('eu-west-2');
    const t2 = performance.now();
    process.stdout.write(JSON.stringify({ requireMs: t1 - t0, initMs: t2 - t1 }));
  `;
  const out = execFileSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    // The SDK warns about Node 20 on stderr at client creation; only the timings matter here.
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, AWS_REGION: 'eu-west-2' },
  });
  return JSON.parse(out) as { requireMs: number; initMs: number };
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Builds both edge bundles and the viewer-request one on the SDK transport,
 * measures them, and returns the figures: `runs` fresh processes per
 * viewer-request bundle, alternating which of the two goes first.
 */
export async function measureEdgeBundles(
  config: LimiterConfig,
  runs: number,
): Promise<EdgeBundleMeasurement> {
  if (!(Number.isSafeInteger(runs) && runs > 0)) {
    throw new RangeError(`runs must be a positive integer (got ${runs})`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'edge-measure-'));
  try {
    const light = await bundleTo(dir, 'edge', config, 'light');
    const sdk = await bundleTo(dir, 'edge', config, 'sdk');
    const response = await bundleTo(dir, 'edge-response', config);
    const files: Record<EdgeTransport, string> = { light: light.file, sdk: sdk.file };
    const timings: Record<EdgeTransport, { requireMs: number[]; initMs: number[] }> = {
      light: { requireMs: [], initMs: [] },
      sdk: { requireMs: [], initMs: [] },
    };
    for (let i = 0; i < runs; i++) {
      const order: EdgeTransport[] = i % 2 === 0 ? ['light', 'sdk'] : ['sdk', 'light'];
      for (const transport of order) {
        const t = coldStartOnce(files[transport]);
        timings[transport].requireMs.push(t.requireMs);
        timings[transport].initMs.push(t.initMs);
      }
    }
    return { sizes: [light.size, response.size], sdkSize: sdk.size, coldStart: timings };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const flag = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const runs = Number(flag('--runs') ?? 15);
  const configFile = resolve(flag('--config') ?? join(REPO_ROOT, 'limiter.config.ts'));
  const loaded = (await import(pathToFileURL(configFile).href)) as {
    default?: LimiterConfig;
    config?: LimiterConfig;
  };
  const config = loaded.default ?? loaded.config;
  if (config === undefined) throw new Error(`${configFile} exports no config`);
  const { sizes, sdkSize, coldStart } = await measureEdgeBundles(config, runs);
  const kb = (n: number | undefined) => (n === undefined ? 'n/a' : `${(n / 1024).toFixed(1)} KB`);
  const sizeLine = (s: BundleSize, label: string) =>
    `${label.padEnd(14)} raw ${kb(s.bytes).padStart(9)}  deflated ${kb(s.deflatedBytes).padStart(9)}  zip ${kb(s.zipBytes).padStart(9)}`;
  for (const s of sizes) {
    console.log(
      `${sizeLine(s, s.name)}  (goal ${kb(EDGE_BUNDLE_GOAL_BYTES)}, limit ${kb(EDGE_VIEWER_MAX_ZIPPED_BYTES)})`,
    );
  }
  console.log(`${sizeLine(sdkSize, 'edge on SDK')}  (today's client, for comparison)`);
  const stats = (xs: readonly number[]) =>
    `median ${median(xs).toFixed(1)} ms, min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}`;
  for (const transport of ['light', 'sdk'] as const) {
    const c = coldStart[transport];
    console.log(
      `cold start, ${transport === 'light' ? 'light transport' : "today's SDK client"}, ${runs} fresh processes: require ${stats(c.requireMs)}; container init ${stats(c.initMs)}`,
    );
  }
  const ratio = (a: number, b: number) => `×${(a / b).toFixed(2)}`;
  const zipped = (s: BundleSize) => s.zipBytes ?? s.deflatedBytes;
  console.log(
    `light / SDK, same run: zipped ${ratio(zipped(sizes[0]!), zipped(sdkSize))}, require median ${ratio(median(coldStart.light.requireMs), median(coldStart.sdk.requireMs))}, container init median ${ratio(median(coldStart.light.initMs), median(coldStart.sdk.initMs))}`,
  );
  const over = sizes.find((s) => (s.zipBytes ?? s.deflatedBytes) > EDGE_VIEWER_MAX_ZIPPED_BYTES);
  if (over !== undefined) {
    console.error(`${over.name} is above the Lambda@Edge viewer-trigger limit`);
    process.exitCode = 1;
  }
}

if (
  process.argv[1] !== undefined &&
  resolve(process.argv[1]) === resolve(REPO_ROOT, 'functions/edge/measure-bundle.ts')
) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
