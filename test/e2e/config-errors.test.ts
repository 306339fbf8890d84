/**
 * One config file, three entry points: `npm start` (local/main.ts), `cdk
 * synth` (infra/app.ts) and `npm run build` (scripts/build-functions.ts)
 * refuse a bad config with the same lines on stderr and exit code 1, before
 * building or starting anything.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { config as projectConfig } from '../../limiter.config';
import { linesOf, type Run, runProcess } from './processes';

const dir = mkdtempSync(path.join(tmpdir(), 'limiter-config-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** The three entry points on one config file (`cdk synth -c config=FILE` sets the same as LIMITER_CONFIG). */
async function everyEntryPoint(file: string): Promise<Record<string, Run>> {
  const [start, synth, build] = await Promise.all([
    runProcess('node', 'local/main.ts', ['--config', file, '--port', '0']),
    runProcess('node', 'infra/app.ts', [], { env: { LIMITER_CONFIG: file } }),
    runProcess('node', 'scripts/build-functions.ts', ['--config', file, '--out', dir]),
  ]);
  return { start, synth, build };
}

describe('config problems, at every entry point', () => {
  it('lists the problems of a JSON config without policies and rules, all at once', async () => {
    const { policies: _p, rules: _r, ...rest } = projectConfig;
    const file = write('no-lists.json', JSON.stringify({ ...rest, tableName: 'x' }));
    const runs = await everyEntryPoint(file);
    for (const [entry, run] of Object.entries(runs)) {
      expect(run.code, `${entry}: ${run.stderr}`).toBe(1);
      expect(linesOf(run.stderr), entry).toEqual([
        `error: config file ${file} is invalid (4 problems):`,
        expect.stringMatching(/^ {2}- tableName: /),
        '  - policies: must be an array',
        '  - rules: must be an array',
        '  - policies: must define at least one policy',
      ]);
    }
  });

  it('names the file, line and column of a TypeScript syntax error', async () => {
    const file = write(
      'syntax.config.ts',
      "export const config = {\n  appName: 'x',\n  regions: ['us-east-1'\n  tableName: 'x',\n};\n",
    );
    const runs = await everyEntryPoint(file);
    for (const [entry, run] of Object.entries(runs)) {
      expect(run.code, `${entry}: ${run.stderr}`).toBe(1);
      expect(linesOf(run.stderr), entry).toEqual([
        `error: config file ${file}: has a syntax error at ${file}:4:3: Expected "]" but found "tableName"`,
      ]);
    }
  });
});
