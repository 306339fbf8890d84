/**
 * Loading the config `npm start` runs with. A config file is a module (or
 * JSON) that exports a {@link LimiterConfig}; it goes through the same
 * {@link validateConfig} as `cdk synth`, so a file that runs locally also
 * deploys, and every problem is reported at once rather than one per run.
 */

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ConfigProblem, LimiterConfig } from '../functions/config/schema';
import { validateConfig } from '../functions/config/schema';

/** The config file cannot be read, does not export a config, or is invalid. */
export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
  constructor(
    readonly file: string,
    message: string,
    readonly problems: readonly ConfigProblem[] = [],
    options?: { cause?: unknown },
  ) {
    super(`config file ${file}: ${message}`, options);
  }
}

/**
 * Loads a config from `.json`, `.ts`, `.mts`, `.js`, `.mjs` or `.cjs`. A module
 * may export it as `config` or as its default export.
 *
 * @throws {@link ConfigFileError} when the file cannot be loaded or holds no config object.
 */
export async function loadConfigFile(file: string): Promise<LimiterConfig> {
  const absolute = path.resolve(file);
  const ext = path.extname(absolute).toLowerCase();
  let loaded: unknown;
  if (ext === '.json') {
    let text: string;
    try {
      text = await readFile(absolute, 'utf8');
    } catch (error) {
      throw new ConfigFileError(file, `cannot be read (${codeOf(error)})`, [], { cause: error });
    }
    try {
      loaded = JSON.parse(text);
    } catch (error) {
      throw new ConfigFileError(file, `is not valid JSON (${(error as Error).message})`, [], {
        cause: error,
      });
    }
  } else if (['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'].includes(ext)) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
    } catch (error) {
      const reason = codeOf(error) === 'ERR_MODULE_NOT_FOUND' ? 'not found' : firstLine(error);
      throw new ConfigFileError(file, `cannot be loaded (${reason})`, [], { cause: error });
    }
    loaded = pickExport(mod);
  } else {
    throw new ConfigFileError(file, 'must end in .json, .ts, .mts, .cts, .js, .mjs or .cjs');
  }
  if (loaded === null || typeof loaded !== 'object' || Array.isArray(loaded)) {
    throw new ConfigFileError(file, 'does not export a config object (as `config` or default)');
  }
  return loaded as LimiterConfig;
}

/**
 * Validates a config with {@link validateConfig}.
 *
 * @throws {@link ConfigFileError} listing every problem on one line.
 */
export function checkConfig(config: LimiterConfig, source: string): LimiterConfig {
  let problems: ConfigProblem[];
  try {
    problems = validateConfig(config);
  } catch (error) {
    // validateConfig expects the config's shape; a wildly wrong file can make it throw.
    throw new ConfigFileError(source, `is not a limiter config (${firstLine(error)})`, [], {
      cause: error,
    });
  }
  if (problems.length > 0) {
    const list = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    throw new ConfigFileError(
      source,
      `is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${list}`,
      problems,
    );
  }
  return config;
}

function pickExport(mod: Record<string, unknown>): unknown {
  if (mod.config !== undefined) return mod.config;
  const fallback = mod.default as Record<string, unknown> | undefined;
  // A CommonJS or transpiled module puts its named exports under default.
  if (fallback !== null && typeof fallback === 'object' && 'config' in fallback) {
    return fallback.config;
  }
  return fallback;
}

function codeOf(error: unknown): string {
  return String((error as NodeJS.ErrnoException)?.code ?? firstLine(error));
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0] ?? '';
}
