/**
 * `npm start`: the whole system on this machine. Parses the flags, loads and
 * validates the config, starts the runtime ({@link startLocal}), prints the
 * URLs and a live status, and stops everything cleanly on SIGINT (Ctrl-C) or
 * SIGTERM, then exits 0. A second signal while stopping exits at once
 * (128 + the signal number); copies of the first one, which npm and tsx
 * forward, are not a second signal (local/signals.ts).
 *
 * Failures before the system runs print on stderr and exit non-zero: 2 for
 * usage errors (a bad flag or value), 1 for everything else (a config file
 * that cannot be loaded or is invalid, with every problem listed; a port in
 * use; a bundle that does not build).
 */

import { constants } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { LimiterConfig } from '../functions/config/schema';
import { type CliOptions, CliUsageError, parseCli, USAGE } from './cli';
import { checkConfig, configErrorText, loadConfigFile } from './config-file';
import { Display } from './display';
import { type LocalHandle, localConfig, startLocal } from './runtime';
import { ShutdownSignals } from './signals';

/** Exit code of a usage error (bad flag or value). */
export const EXIT_USAGE = 2;
/** Exit code of any other start-up failure. */
export const EXIT_FAILURE = 1;

/** The config `npm start` runs without `--config`. */
const DEMO_CONFIG = 'local/demo.config.ts';

/** Runs the CLI; resolves to the exit code once the runtime has stopped (or failed to start). */
export async function main(argv: readonly string[]): Promise<number> {
  let cli: CliOptions;
  try {
    cli = parseCli(argv);
  } catch (error) {
    if (error instanceof CliUsageError) return usageError(error);
    throw error;
  }
  if (cli.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  const shutdown = new ShutdownSignals({
    onInsist: (signal) => {
      process.stderr.write(`\n${signal} again: exiting without waiting\n`);
      process.exit(128 + constants.signals[signal]);
    },
  });
  try {
    return await run(cli, shutdown);
  } finally {
    shutdown.dispose();
  }
}

async function run(cli: CliOptions, shutdown: ShutdownSignals): Promise<number> {
  let config: LimiterConfig;
  try {
    config = await loadAndCheck(cli);
  } catch (error) {
    if (error instanceof CliUsageError) return usageError(error);
    process.stderr.write(configErrorText(error));
    return EXIT_FAILURE;
  }

  let display: Display | undefined;
  const log = (line: string) =>
    display === undefined ? process.stderr.write(`${line}\n`) : display.log(line);
  process.stdout.write('starting: bundling the functions and the emulated regions...\n');
  const starting = startLocal({
    config,
    lagMs: cli.lagMs,
    jitterMs: cli.jitterMs,
    basePort: cli.basePort,
    ...(cli.originUrl === undefined ? {} : { originUrl: cli.originUrl }),
    reconcileEveryMs: cli.reconcileEveryMs,
    seed: cli.seed,
    realistic: cli.realistic,
    ...(cli.edgeRegions === undefined ? {} : { edgeRegions: cli.edgeRegions }),
    log,
  });
  const first = await Promise.race([
    starting.then(
      (handle) => ({ handle }),
      (error: unknown) => ({ error }),
    ),
    shutdown.requested.then((signal) => ({ signal })),
  ]);
  if ('error' in first) {
    process.stderr.write(configErrorText(first.error));
    return EXIT_FAILURE;
  }
  if ('signal' in first) {
    // Stopped while starting: let the start finish (it cannot be cut short), then stop.
    process.stdout.write(`\n${first.signal}: stopping...\n`);
    const handle = await starting.catch(() => undefined);
    await handle?.stop();
    process.stdout.write('stopped\n');
    return 0;
  }

  const { handle } = first;
  process.stdout.write(banner(handle, cli));
  display = new Display({
    out: process.stdout,
    snapshot: () => handle.status(),
    plainEveryMs: cli.statusEveryMs,
  });
  display.start();

  const signal = await shutdown.requested;
  display.stop();
  process.stdout.write(`\n${signal}: stopping... (again to exit without waiting)\n`);
  try {
    await handle.stop();
  } catch (error) {
    process.stderr.write(`error while stopping: ${oneLine(error)}\n`);
    return EXIT_FAILURE;
  }
  process.stdout.write('stopped\n');
  return 0;
}

/**
 * The config file (or the demo config) with the flags applied, checked like
 * `cdk synth` checks a config; `--watch` naming no policy of it is a usage error.
 */
async function loadAndCheck(cli: CliOptions): Promise<LimiterConfig> {
  const file = cli.configFile ?? DEMO_CONFIG;
  const loaded =
    cli.configFile === undefined
      ? (await import('./demo.config')).config
      : await loadConfigFile(file);
  const source = `${file}${cli.regions === undefined ? '' : ` with --regions ${cli.regions.join(',')}`}`;
  const overridden = localConfig({
    config: loaded,
    ...(cli.regions === undefined ? {} : { regions: cli.regions }),
  });
  const config = checkConfig(overridden, source);
  const unknown = cli.watch.filter((w) => !config.policies.some((p) => p.id === w.policy));
  if (unknown.length > 0) {
    throw new CliUsageError(
      `--watch names no policy of ${file}: ${unknown.map((w) => w.policy).join(', ')} (policies: ${config.policies
        .map((p) => p.id)
        .join(', ')})`,
    );
  }
  return localConfig({ config, watch: cli.watch });
}

function usageError(error: CliUsageError): number {
  process.stderr.write(`error: ${error.message} (see --help)\n`);
  return EXIT_USAGE;
}

function banner(handle: LocalHandle, cli: CliOptions): string {
  const width = Math.max(...handle.edgeRegions.map((r) => r.length));
  const [first, second] = handle.regions as [string, string | undefined];
  const lines = [
    '',
    `edge rate limiter, locally: ${handle.regions.length} region${
      handle.regions.length === 1 ? '' : 's'
    }, replication lag ${cli.lagMs} ms${
      handle.routes.length > 0 ? ' + each link’s one-way network delay' : ''
    } (+ jitter < ${cli.jitterMs} ms)`,
    '',
    ...handle.regions.map(
      (r) =>
        `  ${r.padEnd(width)}  edge ${handle.edgeUrls[r]}   API ${handle.apiUrls[r]}   DynamoDB ${handle.storeEndpoints[r]}`,
    ),
    '',
    ...networkLines(handle, width),
    `  origin ${handle.originUrl}${cli.originUrl === undefined ? ' (built-in echo)' : ''}`,
    second === undefined
      ? `  admin  ${handle.adminUrl}/admin/status   (POST /admin/down?region=&down=true)`
      : `  admin  ${handle.adminUrl}/admin/status   (POST /admin/cut|heal?a=&b=, /admin/down?region=&down=true)`,
    '',
    'try:',
    `  curl -i -H 'x-api-key: alice' ${handle.edgeUrls[first]}/demo/hello`,
    second === undefined
      ? `  curl -s -X POST '${handle.adminUrl}/admin/down?region=${first}&down=true'`
      : `  curl -s -X POST '${handle.adminUrl}/admin/cut?a=${first}&b=${second}'`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * With the network model: every edge region, the replica it talks to and the
 * model's store call to it (median and p99 round trip, network plus
 * DynamoDB's service time).
 */
function networkLines(handle: LocalHandle, width: number): string[] {
  if (handle.routes.length === 0) return [];
  return [
    `network model (docs/network-model.md, seed ${handle.seed}): ${handle.routes.length} edge regions, each store call delayed by its round trip`,
    ...handle.routes.map(
      (route) =>
        `  ${route.edgeRegion.padEnd(width)}  edge ${handle.edgeUrls[route.edgeRegion]}   -> ${route.replica.padEnd(width)}  store call ${route.link.medianMs.toFixed(1)} ms median, p99 ${route.link.p99Ms.toFixed(1)} ms${route.link.estimated ? ' (estimated)' : ''}`,
    ),
    '',
  ];
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, '; ');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`error: ${oneLine(error)}\n`);
      process.exit(EXIT_FAILURE);
    },
  );
}
