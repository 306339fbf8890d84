/**
 * The command line of `npm run simulate`: flags, their validation and the
 * printed table. Kept apart from main.ts so tests can parse flags and format
 * results without running anything or touching the file system.
 */

import { EDGE_WORKLOADS, type EdgeRow, type EdgeWorkload } from './edge/run';
import { REGIONAL_EDGE_CACHE_REGIONS } from './network/model';
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
  /** The edge simulator instead (`--edge`): what a viewer gets per edge region. */
  readonly edge?: EdgeCliOptions;
}

/** What `--edge` asked for. */
export interface EdgeCliOptions {
  /** The config file. @default limiter.config.ts */
  readonly configFile: string;
  /** The per-client policy (default: chosen from the config). */
  readonly policy?: string;
  readonly workloads: readonly EdgeWorkload[];
  readonly edgeRegions: readonly string[];
  /** Virtual seconds measured per workload. */
  readonly durationS: number;
  /** Compare 3, 5 and 13 replica regions instead (`--replica-sets`). */
  readonly replicaSets: boolean;
}

/** The config `--edge` runs by default. */
export const DEFAULT_EDGE_CONFIG = 'limiter.config.ts';

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
  --help            this text

  --edge            instead: what a viewer gets from the real limiter in each edge region, at the
                    network model's distances (docs/edge-latency.md); with --json, one object per
                    workload and edge region. Takes --seed, --json and:
  --config FILE     the config to run (default ${DEFAULT_EDGE_CONFIG})
  --policy ID       the per-client policy of busy-key, cold-keys and overload (default: chosen)
  --workload LIST   comma-separated workloads (${EDGE_WORKLOADS.join(', ')}; default all)
  --edge-regions L  comma-separated edge regions (default every regional edge cache region)
  --duration S      virtual seconds measured per workload, 1..3600 (default 60; hot-bucket a fifth)
  --replica-sets    compare 3, 5 and 13 replica regions (busy-key latency, store traffic and its
                    cost, a shared bucket's bound) instead of the workloads`;

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

/** A comma-separated list of known names, each once. */
function listFlag(flag: string, raw: string | undefined, known: readonly string[]): string[] {
  if (raw === undefined || raw === '' || raw.startsWith('--')) {
    throw new CliUsageError(`${flag} needs a comma-separated list`);
  }
  const names = raw.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw new CliUsageError(
      `${flag}: unknown ${unknown.map((n) => `"${n}"`).join(', ')}; known: ${known.join(', ')}`,
    );
  }
  return [...new Set(names)];
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
  let edge = false;
  let configFile: string | undefined;
  let policy: string | undefined;
  let workloads: EdgeWorkload[] | undefined;
  let edgeRegions: string[] | undefined;
  let durationS: number | undefined;
  let replicaSets = false;
  const edgeOnly: string[] = [];
  const notEdge: string[] = [];
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
    if (
      [
        '--config',
        '--policy',
        '--workload',
        '--edge-regions',
        '--duration',
        '--replica-sets',
      ].includes(flag!)
    )
      edgeOnly.push(flag!);
    if (
      ['--scenario', '--lag', '--regions', '--seeds', '--out', '--no-charts', '--doc'].includes(
        flag!,
      )
    )
      notEdge.push(flag!);
    switch (flag) {
      case '--edge':
        noValue();
        edge = true;
        break;
      case '--config': {
        const file = value();
        if (file === undefined || file === '' || file.startsWith('--'))
          throw new CliUsageError('--config needs a file');
        configFile = file;
        break;
      }
      case '--policy': {
        const id = value();
        if (id === undefined || id === '' || id.startsWith('--'))
          throw new CliUsageError('--policy needs a policy id');
        policy = id;
        break;
      }
      case '--workload':
        workloads = listFlag('--workload', value(), EDGE_WORKLOADS) as EdgeWorkload[];
        break;
      case '--edge-regions':
        edgeRegions = listFlag('--edge-regions', value(), REGIONAL_EDGE_CACHE_REGIONS);
        break;
      case '--duration':
        durationS = integerFlag('--duration', value(), 1, 3600);
        break;
      case '--replica-sets':
        noValue();
        replicaSets = true;
        break;
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
  if (edge && notEdge.length > 0) {
    throw new CliUsageError(`--edge does not take ${[...new Set(notEdge)].join(', ')}`);
  }
  if (!edge && edgeOnly.length > 0) {
    throw new CliUsageError(`${[...new Set(edgeOnly)].join(', ')} only apply with --edge`);
  }
  return {
    ...(edge
      ? {
          edge: {
            configFile: configFile ?? DEFAULT_EDGE_CONFIG,
            ...(policy === undefined ? {} : { policy }),
            workloads: workloads ?? [...EDGE_WORKLOADS],
            edgeRegions: edgeRegions ?? [...REGIONAL_EDGE_CACHE_REGIONS],
            durationS: durationS ?? 60,
            replicaSets,
          },
        }
      : {}),
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

const EDGE_COLUMNS: readonly { header: string; cell: (r: EdgeRow) => string }[] = [
  { header: 'workload', cell: (r) => r.workload },
  { header: 'edge region', cell: (r) => r.edgeRegion },
  { header: 'replica', cell: (r) => r.replicaRegion },
  { header: 'rtt ms', cell: (r) => r.rttMs.toFixed(1) },
  { header: 'requests', cell: (r) => String(r.requests) },
  { header: 'admitted', cell: (r) => String(r.admitted) },
  { header: 'p50 ms', cell: (r) => r.addedLatencyP50Ms.toFixed(2) },
  { header: 'p99 ms', cell: (r) => r.addedLatencyP99Ms.toFixed(2) },
  { header: 'fallback', cell: (r) => `${(100 * r.fallbackRate).toFixed(2)} %` },
  { header: 'store wait', cell: (r) => `${(100 * r.storeWaitShare).toFixed(1)} %` },
  { header: 'over / bound', cell: (r) => `${r.overAdmissionTokens} / ${r.boundTokens}` },
  { header: 'writes/admitted', cell: (r) => r.writesPerAdmitted.toFixed(3) },
  { header: 'throttled', cell: (r) => String(r.throttledWrites) },
];

/** Formats edge rows as a Markdown table (first three columns left-aligned). */
export function formatEdgeTable(rows: readonly EdgeRow[]): string {
  const cells = rows.map((row) => EDGE_COLUMNS.map((c) => c.cell(row)));
  const widths = EDGE_COLUMNS.map((c, i) =>
    Math.max(c.header.length, ...cells.map((row) => row[i]!.length)),
  );
  const line = (values: readonly string[]) =>
    `| ${values.map((v, i) => (i < 3 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < 3 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(EDGE_COLUMNS.map((c) => c.header)), rule, ...cells.map(line)].join('\n');
}
