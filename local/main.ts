/**
 * `npm start`: the whole system on this machine. Parses the flags, loads and
 * validates the config, starts the runtime ({@link startLocal}), prints the
 * URLs and a live status, and stops everything cleanly on Ctrl-C.
 *
 * Failures before the system runs (a bad flag, a bad config file, a port in
 * use, a bundle that does not build) print one line on stderr and exit
 * non-zero: 2 for usage errors, 1 for everything else.
 */

import { pathToFileURL } from 'node:url';
import type { LimiterConfig } from '../functions/config/schema';
import { type CliOptions, CliUsageError, parseCli, USAGE } from './cli';
import { checkConfig, loadConfigFile } from './config-file';
import { Display } from './display';
import { type LocalHandle, localConfig, startLocal } from './runtime';

/** Exit code of a usage error (bad flag or value). */
export const EXIT_USAGE = 2;
/** Exit code of any other start-up failure. */
export const EXIT_FAILURE = 1;

/** Runs the CLI; resolves to the exit code once the runtime has stopped (or failed to start). */
export async function main(argv: readonly string[]): Promise<number> {
  let cli: CliOptions;
  try {
    cli = parseCli(argv);
  } catch (error) {
    if (error instanceof CliUsageError) {
      process.stderr.write(`error: ${error.message} (see --help)\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
  if (cli.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  let handle: LocalHandle;
  let display: Display | undefined;
  const log = (line: string) =>
    display === undefined ? process.stderr.write(`${line}\n`) : display.log(line);
  try {
    const loaded = await loadConfig(cli.configFile);
    // Validated here too, so that problems name the file they are in.
    const config = checkConfig(
      localConfig({
        config: loaded,
        ...(cli.regions === undefined ? {} : { regions: cli.regions }),
        watch: cli.watch,
      }),
      `${cli.configFile ?? 'local/demo.config.ts'}${
        cli.regions === undefined ? '' : ` with --regions ${cli.regions.join(',')}`
      }`,
    );
    process.stdout.write('starting: bundling the functions and the emulated regions...\n');
    handle = await startLocal({
      config,
      lagMs: cli.lagMs,
      jitterMs: cli.jitterMs,
      basePort: cli.basePort,
      ...(cli.originUrl === undefined ? {} : { originUrl: cli.originUrl }),
      reconcileEveryMs: cli.reconcileEveryMs,
      log,
    });
  } catch (error) {
    process.stderr.write(`error: ${oneLine(error)}\n`);
    return EXIT_FAILURE;
  }

  process.stdout.write(banner(handle, cli));
  display = new Display({
    out: process.stdout,
    snapshot: () => handle.status(),
    plainEveryMs: cli.statusEveryMs,
  });
  display.start();

  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        process.stderr.write(`\n${signal} again: exiting without waiting\n`);
        process.exit(130);
      }
      stopping = true;
      display?.stop();
      process.stdout.write(`\n${signal}: stopping...\n`);
      handle.stop().then(
        () => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.stdout.write('stopped\n');
          resolve(0);
        },
        (error: unknown) => {
          process.stderr.write(`error while stopping: ${oneLine(error)}\n`);
          resolve(EXIT_FAILURE);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function loadConfig(file: string | undefined): Promise<LimiterConfig> {
  if (file !== undefined) return loadConfigFile(file);
  const mod = await import('./demo.config');
  return mod.config;
}

function banner(handle: LocalHandle, cli: CliOptions): string {
  const width = Math.max(...handle.regions.map((r) => r.length));
  const lines = [
    '',
    `edge rate limiter, locally: ${handle.regions.length} region${
      handle.regions.length === 1 ? '' : 's'
    }, replication lag ${cli.lagMs} ms (+ jitter < ${cli.jitterMs} ms)`,
    '',
    ...handle.regions.map(
      (r) =>
        `  ${r.padEnd(width)}  edge ${handle.edgeUrls[r]}   API ${handle.apiUrls[r]}   DynamoDB ${handle.storeEndpoints[r]}`,
    ),
    '',
    `  origin ${handle.originUrl}${cli.originUrl === undefined ? ' (built-in echo)' : ''}`,
    `  admin  ${handle.adminUrl}/admin/status   (POST /admin/cut|heal?a=&b=, /admin/down?region=&down=true)`,
    '',
    'try:',
    `  curl -i -H 'x-api-key: alice' ${handle.edgeUrls[handle.regions[0] as string]}/demo/hello`,
    `  curl -s -X POST '${handle.adminUrl}/admin/cut?a=${handle.regions[0]}&b=${
      handle.regions[1] ?? handle.regions[0]
    }'`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  return `${lines.join('\n')}\n`;
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
