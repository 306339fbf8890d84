/**
 * Command-line flags of `npm start`. Parsing is pure (no I/O) so that every
 * bad flag is reported as one clear line before anything is started, and so
 * the rules are testable without spawning a process.
 */

import { REGIONAL_EDGE_CACHE_REGIONS } from '../sim/network/model';
import { AWS_COMMERCIAL_REGIONS, closestRegions, isKnownRegion } from './regions';

/** What `npm start -- <flags>` asked for. */
export interface CliOptions {
  /** Replication lag of every link (ms). @default 200 */
  readonly lagMs: number;
  /** Uniform jitter added to each delivery (ms). @default 50 */
  readonly jitterMs: number;
  /** Regions to run instead of the config's (a subset or an override). */
  readonly regions?: readonly string[];
  /** Config file (.ts, .js, .mjs, .cjs or .json); local/demo.config.ts when absent. */
  readonly configFile?: string;
  /** Base port; every other port is derived from it. 0 picks free ports. @default 8400 */
  readonly basePort: number;
  /** An origin to proxy allowed requests to, instead of the built-in echo origin. */
  readonly originUrl?: string;
  /** How often the reconciler runs in each region (ms). @default 5000 */
  readonly reconcileEveryMs: number;
  /** Extra buckets whose level the status table shows, as `policy:key`. */
  readonly watch: readonly { readonly policy: string; readonly key: string }[];
  /** How often the status is printed when stdout is not a terminal (ms). @default 10000 */
  readonly statusEveryMs: number;
  /**
   * Run the network model (sim/network/model.ts): every edge region's store
   * calls are delayed by the round trip to its replica, and replication lag
   * gets each link's one-way delay. Implied by `--edge-regions`.
   */
  readonly realistic: boolean;
  /** Edge regions to run beside the regions' own (default with --realistic: every regional edge cache region). */
  readonly edgeRegions?: readonly string[];
  /** Seed of the replication jitter and the network model's delays. @default 1 */
  readonly seed: number;
  /** Print the usage and exit. */
  readonly help: boolean;
}

/** A flag is unknown, lacks its value or has a bad one. */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Defaults of {@link CliOptions}. */
export const CLI_DEFAULTS = {
  lagMs: 200,
  jitterMs: 50,
  basePort: 8400,
  reconcileEveryMs: 5000,
  statusEveryMs: 10_000,
  seed: 1,
} as const;

/** The usage text of `npm start -- --help`. */
export const USAGE = `Usage: npm start -- [flags]

Runs every region of the limiter on this machine (loopback only): an embedded
DynamoDB per region with global-table replication, the bundled Lambda@Edge
handler behind an HTTP edge per region, the regional API and the reconciler.

Flags:
  --lag MS             replication lag of every link (default ${CLI_DEFAULTS.lagMs})
  --jitter MS          random extra lag per delivery, 0..MS (default ${CLI_DEFAULTS.jitterMs})
  --regions a,b,c      regions to run (default: the config's regions)
  --config FILE        config file (.ts/.js/.json) exporting the config (default: local/demo.config.ts,
                       limiter.config.ts with a laptop store budget and watched demo keys)
  --port BASE          base port (default ${CLI_DEFAULTS.basePort}; 0 = free ports): admin BASE,
                       echo origin BASE+1, region i (from 0): edge BASE+10(i+1),
                       API BASE+10(i+1)+1, DynamoDB BASE+10(i+1)+2
  --origin URL         proxy allowed requests to URL instead of the built-in echo origin
  --reconcile-ms MS    reconciler period in every region (default ${CLI_DEFAULTS.reconcileEveryMs})
  --watch POLICY:KEY   also show this bucket's level (repeatable)
  --status-ms MS       status print period when stdout is not a terminal (default ${CLI_DEFAULTS.statusEveryMs})
  --realistic          the network model: each edge region's store calls wait the round trip to
                       its replica (public inter-region measurements, docs/network-model.md), and
                       replication lag gets each link's one-way delay; runs every regional edge
                       cache region's edge (${REGIONAL_EDGE_CACHE_REGIONS.length}) unless --edge-regions says otherwise
  --edge-regions a,b   edge regions to run besides the regions' own, each talking to its nearest
                       replica through the network model (implies --realistic)
  --seed N             seed of the replication jitter and the model's delays (default ${CLI_DEFAULTS.seed})
  -h, --help           this text

Admin (on the admin port): POST /admin/cut?a=R1&b=R2, POST /admin/heal?a=R1&b=R2,
POST /admin/down?region=R&down=true|false[&mode=error|hang], GET /admin/status

Regions: ${wrap(AWS_COMMERCIAL_REGIONS.join(', '), 78, '         ')}
`;

function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width - indent.length) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines.join(`\n${indent}`);
}

const VALUE_FLAGS = new Set([
  '--lag',
  '--jitter',
  '--regions',
  '--config',
  '--port',
  '--origin',
  '--reconcile-ms',
  '--watch',
  '--status-ms',
  '--edge-regions',
  '--seed',
]);

/** Flags that take no value. */
const SWITCH_FLAGS = new Set(['--realistic']);

/**
 * Parses the flags after `npm start --`. Accepts `--flag value` and `--flag=value`.
 *
 * @throws {@link CliUsageError} on the first unknown flag, missing or bad value.
 */
export function parseCli(argv: readonly string[]): CliOptions {
  const values = new Map<string, string[]>();
  const switches = new Set<string>();
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (SWITCH_FLAGS.has(flag)) {
      if (eq > 0) throw new CliUsageError(`${flag} takes no value (got "${arg}")`);
      if (switches.has(flag)) throw new CliUsageError(`${flag} given twice`);
      switches.add(flag);
      continue;
    }
    if (!VALUE_FLAGS.has(flag)) {
      throw new CliUsageError(
        arg.startsWith('-') ? `unknown flag ${flag}` : `unexpected argument "${arg}"`,
      );
    }
    let value: string | undefined;
    if (eq > 0 && arg.startsWith('--')) {
      value = arg.slice(eq + 1);
    } else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined || value === '' || (value.startsWith('--') && eq < 0)) {
      throw new CliUsageError(`${flag} needs a value`);
    }
    values.set(flag, [...(values.get(flag) ?? []), value]);
  }
  const single = (flag: string): string | undefined => {
    const all = values.get(flag);
    if (all !== undefined && all.length > 1) throw new CliUsageError(`${flag} given twice`);
    return all?.[0];
  };
  const integer = (flag: string, fallback: number, max: number): number => {
    const raw = single(flag);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) > max) {
      throw new CliUsageError(`${flag} must be an integer from 0 to ${max} (got "${raw}")`);
    }
    return Number(raw);
  };

  const regions = regionList('--regions', single('--regions'));
  const edgeRegions = regionList('--edge-regions', single('--edge-regions'));
  const originUrl = single('--origin');
  if (originUrl !== undefined) checkOriginUrl(originUrl);
  const basePort = integer('--port', CLI_DEFAULTS.basePort, 65_535);
  if (basePort !== 0 && basePort < 1024) {
    throw new CliUsageError(`--port must be 0 or at least 1024 (got ${basePort})`);
  }
  const watch = (values.get('--watch') ?? []).map((spec) => {
    const colon = spec.indexOf(':');
    if (colon <= 0 || colon === spec.length - 1) {
      throw new CliUsageError(`--watch must be POLICY:KEY (got "${spec}")`);
    }
    return { policy: spec.slice(0, colon), key: spec.slice(colon + 1) };
  });
  const reconcileEveryMs = integer('--reconcile-ms', CLI_DEFAULTS.reconcileEveryMs, 3_600_000);
  if (reconcileEveryMs < 100) {
    throw new CliUsageError(`--reconcile-ms must be at least 100 (got ${reconcileEveryMs})`);
  }
  const statusEveryMs = integer('--status-ms', CLI_DEFAULTS.statusEveryMs, 3_600_000);
  if (statusEveryMs < 100) {
    throw new CliUsageError(`--status-ms must be at least 100 (got ${statusEveryMs})`);
  }
  const configFile = single('--config');
  const seed = integer('--seed', CLI_DEFAULTS.seed, 2 ** 32 - 1);
  return {
    lagMs: integer('--lag', CLI_DEFAULTS.lagMs, 600_000),
    jitterMs: integer('--jitter', CLI_DEFAULTS.jitterMs, 600_000),
    ...(regions === undefined ? {} : { regions }),
    ...(configFile === undefined ? {} : { configFile }),
    basePort,
    ...(originUrl === undefined ? {} : { originUrl }),
    reconcileEveryMs,
    watch,
    statusEveryMs,
    realistic: switches.has('--realistic') || edgeRegions !== undefined,
    ...(edgeRegions === undefined ? {} : { edgeRegions }),
    seed,
    help,
  };
}

/** A comma-separated list of AWS regions, every unknown name reported with the closest real ones. */
function regionList(flag: string, raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  const regions = raw.split(',').map((r) => r.trim());
  if (regions.some((r) => r === '')) {
    throw new CliUsageError(`${flag} must be a comma-separated list (got "${raw}")`);
  }
  if (new Set(regions).size !== regions.length) {
    throw new CliUsageError(`${flag} lists a region twice (got "${raw}")`);
  }
  const unknown = regions.filter((r) => !isKnownRegion(r));
  if (unknown.length > 0) {
    throw new CliUsageError(
      `${flag}: ${unknown
        .map((r) => `"${r}" is not an AWS region (closest: ${closestRegions(r).join(', ')})`)
        .join('; ')}`,
    );
  }
  return regions;
}

function checkOriginUrl(raw: string): void {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (error) {
    throw new CliUsageError(`--origin must be an http:// URL (got "${raw}")`, { cause: error });
  }
  if (url.protocol !== 'http:') {
    throw new CliUsageError(`--origin must be an http:// URL (got "${raw}")`);
  }
}
