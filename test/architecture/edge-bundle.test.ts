/**
 * The edge bundles as esbuild builds them for deployment carry no AWS SDK
 * code at all: not imported by the edge's sources (import-rules.test.ts) and
 * not pulled in through anything they import. Checked on esbuild's metafile,
 * which lists every input file that went into the bundle.
 */
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import projectConfig from '../../limiter.config';
import {
  esbuildOptions,
  FUNCTIONS,
  type FunctionName,
  hasEntry,
} from '../../scripts/build-functions';

async function inputsOf(name: FunctionName): Promise<string[]> {
  const result = await build({
    ...esbuildOptions({ name, config: projectConfig }),
    metafile: true,
    write: false,
  } as BuildOptions & { write: false; metafile: true });
  return Object.keys((result.metafile as Metafile).inputs);
}

/** Every edge function the deployment has (the viewer-response one is optional). */
const EDGE_FUNCTIONS = (Object.keys(FUNCTIONS) as FunctionName[]).filter(
  (name) => FUNCTIONS[name].edge && hasEntry(name),
);

describe('the edge bundles', () => {
  it('the viewer-request bundle has the light transport and none of the store’s SDK modules', async () => {
    const inputs = await inputsOf('edge');
    expect(inputs).toContain('functions/store/http-transport.ts');
    expect(inputs.some((file) => file.includes('node_modules/aws4/'))).toBe(true);
    for (const module of ['client', 'sdk-transport', 'regional-stores']) {
      expect(inputs).not.toContain(`functions/store/${module}.ts`);
    }
  });

  it.each(EDGE_FUNCTIONS)('%s: no @aws-sdk/ input', async (name) => {
    const inputs = await inputsOf(name);
    expect(inputs.length).toBeGreaterThan(1);
    expect(inputs.filter((file) => file.includes('node_modules/@aws-sdk/'))).toEqual([]);
  });
});
