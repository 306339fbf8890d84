/**
 * The command line of `npm run simulate`: flags, their validation and the
 * printed table. Kept apart from main.ts so tests can parse flags and format
 * results without running anything or touching the file system.
 */

import { MAX_REGIONS, SCENARIO_NAMES } from './scenarios';
import type { StrategyResult } from './types';

/** What the command line asked for. */
export interface CliOptions {
  /** One scenario by name, or every scenario. */
  readonly scenario?: string;
  readonly lagMs?: number;
  readonly regions?: number;
  readonly seed: number;
  /** How many seeds to run, from `seed` on (every result is reported). @default 1 */
  readonly seeds: number;
  readonly json: boolean;
  /** Where charts go. @default sim/out */
  readonly outDir: string;
  readonly charts: boolean;
  /** Rewrite the generated part of docs/accuracy.md instead of printing. */
  readonly doc: boolean;
  readonly help: boolean;
}

/** Default seed: runs are reproducible without any flag. */
export const DEFAULT_SEED = 1;

/** A bad command line; the message says what and how to fix it. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}

/** The help text. */
export const USAGE = `Usage: npm run simulate -- [flags]

Runs the multi-region simulator: every scenario (or one) through the exact
bucket, ours (checkpoint merge), independent buckets, a static split and the
naive PN-counter, on the same seeded trace.

Flags:
  --scenario NAME   run one scenario (${SCENARIO_NAMES.join(', ')})
  --lag MS          mean one-way replication lag of every link, integer ms >= 0
  --regions N       number of regions, 1..${MAX_REGIONS}
  --seed N          seed of the traffic and lag streams, integer >= 0 (default ${DEFAULT_SEED})
  --seeds N         run N seeds from --seed on, 1..100 (default 1; charts show the first)
  --json            print a JSON array of results instead of the table
  --out DIR         where to write one SVG chart per scenario (default sim/out)
  --no-charts       do not write charts
  --doc             rewrite the generated tables of docs/accuracy.md (ignores the other flags)
  --help            this text`;

function integerFlag(flag: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined || raw.startsWith('--')) {
    throw new CliUsageError(`${flag} needs a value`);
  }
  if (!/^\d+$/.test(raw)) {
    throw new CliUsageError(`${flag} must be an integer between ${min} and ${max} (got "${raw}")`);
  }
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new CliUsageError(`${flag} must be an integer between ${min} and ${max} (got "${raw}")`);
  }
  return value;
}

/** Parses the flags after `tsx sim/main.ts`; throws {@link CliUsageError} on any problem. */
export function parseArgs(argv: readonly string[]): CliOptions {
  let scenario: string | undefined;
  let lagMs: number | undefined;
  let regions: number | undefined;
  let seed = DEFAULT_SEED;
  let seeds = 1;
  let json = false;
  let outDir = 'sim/out';
  let charts = true;
  let doc = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const noValue = () => {
      if (inline !== undefined) throw new CliUsageError(`${flag} takes no value (got "${arg}")`);
    };
    const value = () => {
      if (inline !== undefined) return inline;
      i++;
      return argv[i];
    };
    switch (flag) {
      case '--scenario': {
        const name = value();
        if (name === undefined || name.startsWith('--'))
          throw new CliUsageError('--scenario needs a value');
        if (!SCENARIO_NAMES.includes(name)) {
          throw new CliUsageError(
            `unknown scenario "${name}"; known: ${SCENARIO_NAMES.join(', ')}`,
          );
        }
        scenario = name;
        break;
      }
      case '--lag':
        lagMs = integerFlag('--lag', value(), 0, 3_600_000);
        break;
      case '--regions':
        regions = integerFlag('--regions', value(), 1, MAX_REGIONS);
        break;
      case '--seed':
        seed = integerFlag('--seed', value(), 0, 2 ** 32 - 1);
        break;
      case '--seeds':
        seeds = integerFlag('--seeds', value(), 1, 100);
        break;
      case '--json':
        noValue();
        json = true;
        break;
      case '--out': {
        const dir = value();
        if (dir === undefined || dir === '' || dir.startsWith('--'))
          throw new CliUsageError('--out needs a directory');
        outDir = dir;
        break;
      }
      case '--no-charts':
        noValue();
        charts = false;
        break;
      case '--doc':
        noValue();
        doc = true;
        break;
      case '--help':
      case '-h':
        noValue();
        help = true;
        break;
      default:
        throw new CliUsageError(`unknown flag "${arg}"; run with --help for the list`);
    }
  }
  return {
    ...(scenario === undefined ? {} : { scenario }),
    ...(lagMs === undefined ? {} : { lagMs }),
    ...(regions === undefined ? {} : { regions }),
    seed,
    seeds,
    json,
    outDir,
    charts,
    doc,
    help,
  };
}

const COLUMNS: readonly { header: string; cell: (r: StrategyResult) => string }[] = [
  { header: 'scenario', cell: (r) => r.scenario },
  { header: 'regions', cell: (r) => String(r.regions) },
  { header: 'lag ms', cell: (r) => String(r.lagMs) },
  { header: 'strategy', cell: (r) => r.strategy },
  { header: 'seed', cell: (r) => String(r.seed) },
  { header: 'admitted', cell: (r) => String(r.admittedTokens) },
  { header: 'ideal', cell: (r) => String(r.idealTokens) },
  { header: '% ideal', cell: (r) => r.admittedPercentOfIdeal.toFixed(1) },
  { header: 'worst-window excess', cell: (r) => r.worstWindowExcessTokens.toFixed(2) },
  { header: '× C', cell: (r) => r.worstWindowExcessCapacity.toFixed(3) },
  { header: 'under', cell: (r) => String(r.underAdmittedTokens) },
  { header: 'needless refusals', cell: (r) => String(r.needlessRefusalTokens) },
  { header: 'decisions ≠ ideal', cell: (r) => String(r.decisionsDifferingFromIdeal) },
  {
    header: 'unseen bound',
    cell: (r) => (r.unseenBoundTokens === undefined ? '' : String(r.unseenBoundTokens)),
  },
  {
    header: 'longer Retry-After',
    cell: (r) =>
      r.longerRetryShare === undefined
        ? ''
        : `${(100 * r.longerRetryShare).toFixed(1)} % (≤ ${r.worstRetryExcessMs} ms)`,
  },
  {
    header: 'needless after heal / later',
    cell: (r) =>
      r.needlessAfterHealTokens === undefined
        ? ''
        : `${r.needlessAfterHealTokens} / ${r.needlessLaterTokens}`,
  },
];

/** Formats results as a Markdown table (readable in a terminal, pasteable into docs/accuracy.md). */
export function formatTable(results: readonly StrategyResult[]): string {
  const rows = results.map((r) => COLUMNS.map((c) => c.cell(r)));
  const widths = COLUMNS.map((c, i) =>
    Math.max(c.header.length, ...rows.map((row) => row[i]!.length)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, i) => (i < 5 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < 5 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(COLUMNS.map((c) => c.header)), rule, ...rows.map(line)].join('\n');
}
