/**
 * The simulator's command line: flags, clear errors on bad ones, the JSON
 * fields other tools read, charts written where asked, and the real entry
 * point's exit code.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliUsageError, DEFAULT_SEED, formatTable, parseArgs } from '../../sim/cli';
import { simulate } from '../../sim/run';
import { STRATEGY_NAMES } from '../../sim/types';

const outDir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('simulate CLI flags', () => {
  it('defaults: every scenario, seed 1, charts in sim/out', async () => {
    expect(parseArgs([])).toEqual({
      seed: DEFAULT_SEED,
      seeds: 1,
      json: false,
      outDir: 'sim/out',
      charts: true,
      doc: false,
      help: false,
    });
  });

  it('reads every flag, with a space or with =', async () => {
    expect(
      parseArgs([
        '--scenario',
        'uniform-lag0',
        '--lag=250',
        '--regions',
        '5',
        '--seed=42',
        '--seeds',
        '3',
        '--json',
        '--no-charts',
      ]),
    ).toEqual({
      scenario: 'uniform-lag0',
      lagMs: 250,
      regions: 5,
      seed: 42,
      seeds: 3,
      json: true,
      outDir: 'sim/out',
      charts: false,
      doc: false,
      help: false,
    });
  });

  it.each([
    { argv: ['--bogus'], message: 'unknown flag "--bogus"; run with --help for the list' },
    { argv: ['--lag'], message: '--lag needs a value' },
    { argv: ['--lag', '--json'], message: '--lag needs a value' },
    {
      argv: ['--lag', 'fast'],
      message: '--lag must be an integer between 0 and 3600000 (got "fast")',
    },
    { argv: ['--lag', '-5'], message: '--lag must be an integer between 0 and 3600000 (got "-5")' },
    {
      argv: ['--lag', '1.5'],
      message: '--lag must be an integer between 0 and 3600000 (got "1.5")',
    },
    { argv: ['--regions', '0'], message: '--regions must be an integer between 1 and 8 (got "0")' },
    { argv: ['--regions', '9'], message: '--regions must be an integer between 1 and 8 (got "9")' },
    { argv: ['--seed'], message: '--seed needs a value' },
    { argv: ['--json=yes'], message: '--json takes no value (got "--json=yes")' },
    { argv: ['--out'], message: '--out needs a directory' },
  ])('rejects $argv with a clear message', ({ argv, message }) => {
    expect(() => parseArgs(argv)).toThrow(new CliUsageError(message));
  });

  it('rejects an unknown scenario and lists the known ones', async () => {
    expect(() => parseArgs(['--scenario', 'nope'])).toThrow(
      /unknown scenario "nope"; known: single-region-lag0, uniform-lag0, .*partition-lag200/,
    );
  });
});

describe('simulate run', () => {
  it('--json fields: scenario, strategy, admittedTokens, idealTokens, worstWindowExcessTokens, capacityTokens', async () => {
    const { results, charts } = await simulate({
      ...parseArgs(['--scenario', 'uniform-lag50', '--regions', '2', '--seed', '3']),
      outDir,
    });
    expect(results).toHaveLength(STRATEGY_NAMES.length);
    for (const r of results) {
      expect(r).toMatchObject({
        scenario: 'uniform-lag50',
        regions: 2,
        lagMs: 50,
        seed: 3,
        capacityTokens: 100,
      });
      expect(typeof r.admittedTokens).toBe('number');
      expect(typeof r.idealTokens).toBe('number');
      expect(typeof r.worstWindowExcessTokens).toBe('number');
    }
    expect(new Set(results.map((r) => r.strategy)).size).toBe(STRATEGY_NAMES.length);
    expect(charts).toEqual([join(outDir, 'uniform-lag50.svg')]);
    expect(readFileSync(charts[0]!, 'utf8')).toContain('<svg');
  });

  it('--seeds runs consecutive seeds and reports every one', async () => {
    const { results } = await simulate({
      ...parseArgs(['--scenario', 'uniform-lag0', '--seed', '5', '--seeds', '3', '--no-charts']),
    });
    expect(results).toHaveLength(3 * STRATEGY_NAMES.length);
    expect([...new Set(results.map((r) => r.seed))]).toEqual([5, 6, 7]);
  });

  it('--lag and --regions override the scenario', async () => {
    const { results } = await simulate({
      ...parseArgs(['--scenario', 'uniform-lag0', '--lag', '500', '--regions', '4', '--no-charts']),
    });
    expect(results[0]).toMatchObject({ regions: 4, lagMs: 500 });
    expect(existsSync(join(outDir, 'uniform-lag0.svg'))).toBe(false);
  });

  it('formats a Markdown table with one row per result', async () => {
    const { results } = await simulate({
      ...parseArgs(['--scenario', 'single-region-lag0', '--no-charts']),
    });
    const table = formatTable(results).split('\n');
    expect(table).toHaveLength(2 + results.length);
    expect(table[0]).toMatch(/^\| scenario .*\| worst-window excess \|/);
    expect(table[2]).toMatch(/^\| single-region-lag0 /);
  });

  it('the entry point exits 2 with the message on a bad flag, 0 on --help', async () => {
    const tsx = join('node_modules', '.bin', 'tsx');
    const bad = spawnSync(tsx, ['sim/main.ts', '--regions', 'many'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(
      'simulate: --regions must be an integer between 1 and 8 (got "many")',
    );
    expect(bad.stdout).toBe('');
    const help = spawnSync(tsx, ['sim/main.ts', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: npm run simulate');
  });
});
