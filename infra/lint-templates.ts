/**
 * `npm run lint:templates [-- cdk.out]`: runs cfn-lint on every template of a
 * synthesized cloud assembly, each against the schema of the region its stack
 * deploys to (a template linted only against us-east-1 misses, or invents,
 * region differences). Exits non-zero on any finding; findings the templates
 * accept are suppressed on their resource (constructs/cfn-lint-suppressions.ts).
 */

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A template and the region it deploys to. */
export interface StackTemplate {
  readonly stack: string;
  readonly region: string;
  /** Path of the template file. */
  readonly template: string;
}

interface Manifest {
  readonly artifacts?: Record<
    string,
    {
      readonly type: string;
      readonly environment?: string;
      readonly properties?: { readonly templateFile?: string };
    }
  >;
}

/** Every CloudFormation stack of a cloud assembly, with its region (`aws://<account>/<region>`). */
export function stackTemplates(assemblyDir: string, manifest: Manifest): StackTemplate[] {
  return Object.entries(manifest.artifacts ?? {})
    .filter(([, a]) => a.type === 'aws:cloudformation:stack')
    .map(([stack, a]) => {
      const region = /^aws:\/\/[^/]+\/([a-z]{2}(?:-gov)?-[a-z]+-\d)$/.exec(
        a.environment ?? '',
      )?.[1];
      const file = a.properties?.templateFile;
      if (region === undefined || file === undefined) {
        throw new Error(
          `stack ${stack} has no concrete region or template (environment ${a.environment}); every stack needs an explicit region`,
        );
      }
      return { stack, region, template: join(assemblyDir, file) };
    });
}

function main(argv: readonly string[]): number {
  const dir = resolve(argv[0] ?? 'cdk.out');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const templates = stackTemplates(dir, manifest);
  const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
  if (version.error !== undefined || version.status !== 0) {
    console.error(
      'cfn-lint is not on PATH: install it (pip install cfn-lint==1.51.0) and run again',
    );
    return 2;
  }
  let failed = 0;
  for (const t of templates) {
    const run = spawnSync('cfn-lint', ['--regions', t.region, '--', t.template], {
      encoding: 'utf8',
    });
    if (run.status === 0) {
      console.log(`ok    ${t.stack} (${t.region})`);
    } else {
      failed += 1;
      console.log(`FAIL  ${t.stack} (${t.region})\n${run.stdout}${run.stderr}`);
    }
  }
  console.log(
    `${version.stdout.trim()}: ${templates.length - failed} of ${templates.length} templates clean`,
  );
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exit(main(process.argv.slice(2)));
}
