/**
 * Measures the Lambda@Edge bundles: size (raw, deflated, and a real zip when
 * the `zip` tool exists) against the viewer-trigger limit of 1 MB zipped and
 * the project's goal of 300 KB, and cold-start init time.
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
import { type BuildOptions, build } from 'esbuild';
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

async function bundleTo(
  dir: string,
  name: BundleSize['name'],
  config: LimiterConfig,
): Promise<{ file: string; size: BundleSize }> {
  const result = await build({
    ...esbuildOptions({ name, config }),
    write: false,
  } as BuildOptions & { write: false });
  const code = result.outputFiles[0]!.contents;
  const sub = join(dir, name);
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

/** Builds both edge bundles, measures them, and returns the figures. */
export async function measureEdgeBundles(
  config: LimiterConfig,
  runs: number,
): Promise<{ sizes: BundleSize[]; coldStart: ColdStart }> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-measure-'));
  try {
    const edge = await bundleTo(dir, 'edge', config);
    const response = await bundleTo(dir, 'edge-response', config);
    const requireMs: number[] = [];
    const initMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = coldStartOnce(edge.file);
      requireMs.push(t.requireMs);
      initMs.push(t.initMs);
    }
    return { sizes: [edge.size, response.size], coldStart: { requireMs, initMs } };
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
  const { sizes, coldStart } = await measureEdgeBundles(config, runs);
  const kb = (n: number | undefined) => (n === undefined ? 'n/a' : `${(n / 1024).toFixed(1)} KB`);
  for (const s of sizes) {
    console.log(
      `${s.name.padEnd(14)} raw ${kb(s.bytes).padStart(9)}  deflated ${kb(s.deflatedBytes).padStart(9)}  zip ${kb(s.zipBytes).padStart(9)}` +
        `  (goal ${kb(EDGE_BUNDLE_GOAL_BYTES)}, limit ${kb(EDGE_VIEWER_MAX_ZIPPED_BYTES)})`,
    );
  }
  const stats = (xs: readonly number[]) =>
    `median ${median(xs).toFixed(1)} ms, min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}`;
  console.log(
    `cold start, ${runs} fresh processes: require ${stats(coldStart.requireMs)}; container init ${stats(coldStart.initMs)}`,
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
