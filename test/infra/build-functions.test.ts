/**
 * The bundling step shared by CDK and the local runtime: the config is
 * compiled in, bundles are CommonJS in content-addressed directories, the
 * AWS SDK is bundled in, and the edge size limit and missing entries fail
 * with messages that name the problem.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { edgeConfigOf } from '../../functions/config/edge-config';
import { InvalidConfigError, type LimiterConfig } from '../../functions/config/schema';
import {
  type BuiltFunction,
  BundleError,
  buildFunctionSync,
  buildFunctions,
  configDefine,
  EDGE_VIEWER_MAX_ZIPPED_BYTES,
  FUNCTIONS,
  type FunctionName,
  MissingEntryError,
} from '../../scripts/build-functions';
import { baseConfig } from './fixtures';

const require = createRequire(import.meta.url);
let work: string;
let outRoot: string;
let echoEntry: string;
let edgeEchoEntry: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'limiter-bundle-'));
  outRoot = join(work, 'out');
  echoEntry = join(work, 'echo.ts');
  writeFileSync(
    echoEntry,
    [
      'declare const __LIMITER_CONFIG__: unknown;',
      'export const handler = async () => __LIMITER_CONFIG__;',
      'export const responseHandler = handler;',
    ].join('\n'),
  );
  edgeEchoEntry = join(work, 'edge-echo.ts');
  writeFileSync(
    edgeEchoEntry,
    [
      'declare const __LIMITER_CONFIG__: unknown;',
      'declare const __LIMITER_EDGE_CONFIG__: unknown;',
      'export const handler = async () => [',
      '  typeof __LIMITER_CONFIG__ === "undefined" ? undefined : __LIMITER_CONFIG__,',
      '  typeof __LIMITER_EDGE_CONFIG__ === "undefined" ? undefined : __LIMITER_EDGE_CONFIG__,',
      '];',
    ].join('\n'),
  );
});

describe('buildFunctionSync', () => {
  it('compiles the config in and writes a CommonJS module Lambda can load', async () => {
    const config = baseConfig();
    const built = buildFunctionSync({ name: 'api', config, outRoot, entry: echoEntry });
    expect(built.handler).toBe('index.handler');
    expect(dirname(built.file)).toBe(built.directory);
    expect(built.directory).toBe(join(outRoot, 'api', built.hash));
    expect(JSON.parse(readFileSync(join(built.directory, 'package.json'), 'utf8'))).toEqual({
      type: 'commonjs',
    });
    const module = require(built.file) as { handler: () => Promise<LimiterConfig> };
    await expect(module.handler()).resolves.toEqual(config);
  });

  it('is content-addressed: same input, same directory; another config, another one', () => {
    const config = baseConfig();
    const a = buildFunctionSync({ name: 'reconciler', config, outRoot, entry: echoEntry });
    const b = buildFunctionSync({ name: 'reconciler', config, outRoot, entry: echoEntry });
    const c = buildFunctionSync({
      name: 'reconciler',
      config: { ...config, tableName: 'another-table' },
      outRoot,
      entry: echoEntry,
    });
    expect(b.directory).toBe(a.directory);
    expect(c.directory).not.toBe(a.directory);
    expect(readFileSync(c.file, 'utf8')).toContain('another-table');
  });

  it('compiles only the edge config into an edge function, the whole config into the others', async () => {
    const config = baseConfig();
    const edge = buildFunctionSync({ name: 'edge', config, outRoot, entry: edgeEchoEntry });
    const api = buildFunctionSync({ name: 'api', config, outRoot, entry: edgeEchoEntry });
    const run = (b: BuiltFunction) =>
      (require(b.file) as { handler: () => Promise<[unknown, unknown]> }).handler();
    const [edgeFull, edgePart] = await run(edge);
    expect(edgeFull).toBeUndefined();
    expect(edgePart).toEqual(edgeConfigOf(config));
    expect(edgePart).not.toHaveProperty('alarms');
    await expect(run(api)).resolves.toEqual([config, undefined]);
    expect(Object.keys(configDefine('edge-response', config))).toEqual(['__LIMITER_EDGE_CONFIG__']);
  });

  it('uses the export name of the function in the handler string', () => {
    const built = buildFunctionSync({
      name: 'edge-response',
      config: baseConfig(),
      outRoot,
      entry: echoEntry,
    });
    expect(built.handler).toBe(`index.${FUNCTIONS['edge-response'].exportName}`);
  });

  it('names a missing entry', () => {
    expect(() =>
      buildFunctionSync({
        name: 'api',
        config: baseConfig(),
        outRoot,
        entry: join(work, 'nope.ts'),
      }),
    ).toThrow(MissingEntryError);
    expect(() =>
      buildFunctionSync({
        name: 'api',
        config: baseConfig(),
        outRoot,
        entry: join(work, 'nope.ts'),
      }),
    ).toThrow(/cannot bundle function "api": entry .*nope\.ts does not exist/);
  });

  it('refuses an invalid config before bundling', () => {
    const config = { ...baseConfig(), regions: [] };
    expect(() => buildFunctionSync({ name: 'api', config, outRoot, entry: echoEntry })).toThrow(
      InvalidConfigError,
    );
  });

  it('refuses an edge bundle above the Lambda@Edge viewer-trigger size limit', () => {
    const huge = join(work, 'huge.ts');
    const incompressible = randomBytes(EDGE_VIEWER_MAX_ZIPPED_BYTES + 64 * 1024).toString('base64');
    writeFileSync(
      huge,
      `export const blob = ${JSON.stringify(incompressible)};\nexport const handler = () => blob;\n`,
    );
    const build = (name: FunctionName) =>
      buildFunctionSync({ name, config: baseConfig(), outRoot, entry: huge });
    expect(() => build('edge')).toThrow(BundleError);
    expect(() => build('edge')).toThrow(/above the Lambda@Edge viewer-trigger limit/);
    expect(build('api').zippedBytes).toBeGreaterThan(EDGE_VIEWER_MAX_ZIPPED_BYTES);
  });
});

describe('buildFunctions (the real handlers)', () => {
  let built: Partial<Record<FunctionName, BuiltFunction>>;
  beforeAll(async () => {
    built = await buildFunctions(baseConfig(), { outRoot });
  });

  it('bundles every required function', () => {
    const required = (Object.keys(FUNCTIONS) as FunctionName[]).filter(
      (n) => !FUNCTIONS[n].optional,
    );
    for (const name of required) expect(existsSync(built[name]?.file ?? '')).toBe(true);
  });

  it('bundles the AWS SDK in (no runtime-provided SDK is required)', () => {
    for (const b of Object.values(built)) {
      const code = readFileSync(b.file, 'utf8');
      const required = new Set(
        [...code.matchAll(/require\("(@aws-sdk\/[^"]+)"\)/g)].map((m) => m[1]),
      );
      // The CRT signer is an optional native add-on the SDK loads inside a try, for SigV4a only.
      required.delete('@aws-sdk/signature-v4-crt');
      expect([...required], b.name).toEqual([]);
    }
  });

  it('keeps what only the regional functions read out of the edge bundles', () => {
    const config = baseConfig();
    const email = config.notifications?.emails?.[0] ?? '';
    expect(email).not.toBe('');
    for (const b of Object.values(built)) {
      const code = readFileSync(b.file, 'utf8');
      if (FUNCTIONS[b.name].edge) {
        expect(code, b.name).not.toContain(email);
        expect(code, b.name).not.toContain(config.origin.domainName);
      }
    }
    const edgeCode = readFileSync(built.edge?.file ?? '', 'utf8');
    expect(edgeCode).toContain(config.tableName);
    expect(readFileSync(built.api?.file ?? '', 'utf8')).toContain(email);
  });

  it('keeps the edge bundles within the viewer-trigger limit', () => {
    for (const b of Object.values(built).filter((f) => FUNCTIONS[f.name].edge)) {
      expect(b.zippedBytes).toBeLessThanOrEqual(EDGE_VIEWER_MAX_ZIPPED_BYTES);
    }
  });
});
