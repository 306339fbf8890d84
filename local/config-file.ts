/**
 * Loading and checking a config file, the same way for every entry point:
 * `npm start` (local/main.ts), `cdk synth` (infra/app.ts) and `npm run
 * build` (scripts/build-functions.ts). A config file is a module (or JSON)
 * that exports a {@link LimiterConfig}; it goes through the same
 * {@link validateConfig} everywhere, so a file that runs locally also
 * deploys, and every problem is listed at once, each at its field.
 *
 * {@link validateConfig} expects the config's shape (objects where objects
 * go, arrays where lists go); a hand-written JSON file can be anything. The
 * shape is checked first ({@link shapeProblems}): a part of the wrong kind is
 * reported at its path and left out of the rest of the validation, so a
 * malformed file gets the same list of problems as any other invalid one,
 * never a TypeError.
 */

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { transform } from 'esbuild';
import type { ConfigProblem, LimiterConfig } from '../functions/config/schema';
import { validateConfig } from '../functions/config/schema';

/** The config file cannot be read, does not export a config, or is invalid. */
export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
  constructor(
    readonly file: string,
    /** What is wrong, without the file name. */
    readonly reason: string,
    readonly problems: readonly ConfigProblem[] = [],
    options?: { cause?: unknown },
  ) {
    super(
      problems.length === 0
        ? `config file ${file}: ${reason}`
        : `config file ${file} ${reason}:\n${problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n')}`,
      options,
    );
  }
}

/** File extensions a config may have. */
export const CONFIG_EXTENSIONS = ['.json', '.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'] as const;

/**
 * Loads a config from `.json`, `.ts`, `.mts`, `.cts`, `.js`, `.mjs` or `.cjs`.
 * A module may export it as `config` or as its default export. A module with
 * a syntax error is reported with the file, line and column.
 *
 * @throws {@link ConfigFileError} when the file cannot be loaded or holds no config object.
 */
export async function loadConfigFile(file: string): Promise<LimiterConfig> {
  const absolute = path.resolve(file);
  const ext = path.extname(absolute).toLowerCase();
  let loaded: unknown;
  if (!(CONFIG_EXTENSIONS as readonly string[]).includes(ext)) {
    throw new ConfigFileError(file, `must end in ${CONFIG_EXTENSIONS.join(', ')}`);
  }
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    throw new ConfigFileError(file, `cannot be read (${codeOf(error)})`, [], { cause: error });
  }
  if (ext === '.json') {
    try {
      loaded = JSON.parse(text);
    } catch (error) {
      throw new ConfigFileError(file, `is not valid JSON (${(error as Error).message})`, [], {
        cause: error,
      });
    }
  } else {
    await checkSyntax(file, absolute, ext, text);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigFileError(file, `cannot be loaded (${firstLine(error)})`, [], {
        cause: error,
      });
    }
    loaded = pickExport(mod);
  }
  if (loaded === null || typeof loaded !== 'object' || Array.isArray(loaded)) {
    throw new ConfigFileError(file, 'does not export a config object (as `config` or default)');
  }
  return loaded as LimiterConfig;
}

/**
 * Validates a config: its shape, then {@link validateConfig}.
 *
 * @param source - what the config came from, for the message (a file, a file and flags)
 * @throws {@link ConfigFileError} listing every problem.
 */
export function checkConfig(config: LimiterConfig, source: string): LimiterConfig {
  const problems = configProblems(config);
  if (problems.length > 0) {
    throw new ConfigFileError(
      source,
      `is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'})`,
      problems,
    );
  }
  return config;
}

/** Every problem of a config of unknown shape: shape problems, then what {@link validateConfig} finds in the rest. */
export function configProblems(config: unknown): ConfigProblem[] {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    return [{ path: '(config)', message: `must be an object (got ${kindOf(config)})` }];
  }
  const { shaped, problems } = shapeProblems(config as Record<string, unknown>);
  const covered = (p: ConfigProblem) =>
    problems.some(
      (s) =>
        p.path === s.path ||
        p.path.startsWith(`${s.path}.`) ||
        p.path.startsWith(`${s.path}[`) ||
        (s.path.startsWith(`${p.path}.`) && p.message.includes(s.path.slice(p.path.length + 1))),
    );
  let validated: ConfigProblem[];
  try {
    validated = validateConfig(shaped as unknown as LimiterConfig);
  } catch (error) {
    // The shape check should leave nothing validateConfig cannot read; if it
    // did, the problem is still reported, not thrown.
    validated = [{ path: '(config)', message: `cannot be validated: ${firstLine(error)}` }];
  }
  return [...problems, ...validated.filter((p) => !covered(p))];
}

/**
 * The parts of a config that are of the wrong kind (an array where an
 * object goes, a string where a list goes...), and a copy of the config in
 * which each of them is replaced by a neutral value (`{}` for a list element,
 * nothing for an optional part, `NaN` for a number) so that
 * {@link validateConfig} can check everything else.
 */
export function shapeProblems(config: Readonly<Record<string, unknown>>): {
  readonly shaped: Record<string, unknown>;
  readonly problems: ConfigProblem[];
} {
  const problems: ConfigProblem[] = [];
  const wrong = (at: string, expected: string, value: unknown) =>
    problems.push({ path: at, message: `must be ${expected} (got ${kindOf(value)})` });
  const join = (at: string, key: string) => (at === '' ? key : `${at}.${key}`);
  const set = (o: Record<string, unknown>, key: string, value: unknown) => {
    if (value === undefined) delete o[key];
    else o[key] = value;
  };
  /** An optional object: a copy, or nothing when it is of another kind. */
  const object = (at: string, value: unknown): Record<string, unknown> | undefined => {
    if (value === undefined) return undefined;
    if (isObject(value)) return { ...value };
    wrong(at, 'an object', value);
    return undefined;
  };
  /** An optional list: a copy, or nothing when it is of another kind. */
  const list = (at: string, value: unknown): unknown[] | undefined => {
    if (value === undefined) return undefined;
    if (Array.isArray(value)) return [...value];
    wrong(at, 'a list', value);
    return undefined;
  };
  /** A list of objects: elements of another kind become `{}`, so indices stay. */
  const objects = (at: string, values: unknown[] | undefined) =>
    values?.map((v, i) => {
      if (isObject(v)) return { ...v };
      wrong(`${at}[${i}]`, 'an object', v);
      return {};
    });
  /** A list of strings: elements of another kind become `''`, so indices stay. */
  const stringList = (at: string, value: unknown) =>
    list(at, value)?.map((v, i) => {
      if (typeof v === 'string') return v;
      wrong(`${at}[${i}]`, 'a string', v);
      return '';
    });
  /** Optional numbers: kept, or `NaN` (which every range check refuses). */
  const numbers = (at: string, o: Record<string, unknown>, keys: readonly string[]) => {
    for (const k of keys) {
      if (o[k] === undefined || typeof o[k] === 'number') continue;
      wrong(join(at, k), 'a number', o[k]);
      o[k] = Number.NaN;
    }
  };
  /** Optional strings: kept, or dropped. */
  const strings = (at: string, o: Record<string, unknown>, keys: readonly string[]) => {
    for (const k of keys) {
      if (o[k] === undefined || typeof o[k] === 'string') continue;
      wrong(join(at, k), 'a string', o[k]);
      delete o[k];
    }
  };

  const shaped: Record<string, unknown> = { ...config };
  strings('', shaped, ['appName', 'account', 'tableName', 'defaultRule']);
  const origin = object('origin', config.origin);
  if (origin !== undefined) {
    strings('origin', origin, ['domainName', 'protocol']);
    numbers('origin', origin, ['httpPort', 'httpsPort']);
  }
  set(shaped, 'origin', origin);
  if (Array.isArray(config.regions)) set(shaped, 'regions', stringList('regions', config.regions));

  const policies = Array.isArray(config.policies)
    ? objects('policies', config.policies)
    : undefined;
  policies?.forEach((p, i) => {
    const at = `policies[${i}]`;
    strings(at, p, ['id', 'consistency', 'onStoreError']);
    numbers(at, p, ['version', 'capacityTokens', 'refillTokens', 'refillIntervalMs', 'localShare']);
    const lease = object(`${at}.lease`, p.lease);
    if (lease !== undefined) numbers(`${at}.lease`, lease, Object.keys(lease));
    set(p, 'lease', lease);
    for (const k of ['allowKeys', 'denyKeys', 'watchKeys'])
      set(p, k, stringList(`${at}.${k}`, p[k]));
  });
  if (policies !== undefined) shaped.policies = policies;

  const strong = object('strong', config.strong);
  if (strong !== undefined) {
    strings('strong', strong, ['tableName']);
    set(strong, 'regions', stringList('strong.regions', strong.regions));
  }
  set(shaped, 'strong', strong);

  const rules = Array.isArray(config.rules) ? objects('rules', config.rules) : undefined;
  rules?.forEach((r, i) => {
    const at = `rules[${i}]`;
    strings(at, r, ['id', 'policy', 'onMissingKey']);
    const match = object(`${at}.match`, r.match);
    if (match !== undefined) {
      strings(`${at}.match`, match, ['path']);
      for (const k of ['methods', 'hosts']) set(match, k, stringList(`${at}.match.${k}`, match[k]));
    }
    set(r, 'match', match);
    const key = objects(`${at}.key`, list(`${at}.key`, r.key));
    set(r, 'key', key ?? (r.key === undefined ? undefined : []));
    for (const [j, part] of (key ?? []).entries()) {
      strings(`${at}.key[${j}]`, part, ['header', 'query', 'jwtClaim', 'constant']);
    }
    const cost = object(`${at}.cost`, r.cost);
    if (cost !== undefined) {
      numbers(`${at}.cost`, cost, [
        'fixed',
        'default',
        'bodyBytesPerToken',
        'minTokens',
        'maxTokens',
      ]);
      if ('perMethod' in cost) {
        const perMethod = object(`${at}.cost.perMethod`, cost.perMethod) ?? {};
        numbers(`${at}.cost.perMethod`, perMethod, Object.keys(perMethod));
        cost.perMethod = perMethod;
      }
    }
    set(r, 'cost', cost);
  });
  if (rules !== undefined) shaped.rules = rules;

  const notifications = object('notifications', config.notifications);
  if (notifications !== undefined) {
    for (const k of ['emails', 'httpsEndpoints']) {
      set(notifications, k, stringList(`notifications.${k}`, notifications[k]));
    }
  }
  set(shaped, 'notifications', notifications);
  for (const k of ['alarms', 'runtime', 'regionalApi']) set(shaped, k, object(k, config[k]));
  const regionalApi = shaped.regionalApi as Record<string, unknown> | undefined;
  if (regionalApi !== undefined) strings('regionalApi', regionalApi, ['auth']);
  return { shaped, problems };
}
/**
 * A config error as the lines an entry point prints on stderr: `error: ` and
 * the message, with the problem list of an invalid config one per line.
 */
export function configErrorText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ConfigFileError && error.problems.length > 0) return `error: ${message}\n`;
  return `error: ${message.replace(/\s*\n\s*/g, '; ')}\n`;
}

/**
 * Checks a module's syntax with esbuild before importing it: the loader's
 * own error ("Transform failed with 1 error") does not say where.
 */
async function checkSyntax(file: string, absolute: string, ext: string, text: string) {
  try {
    await transform(text, {
      loader: ['.ts', '.mts', '.cts'].includes(ext) ? 'ts' : 'js',
      sourcefile: absolute,
      format: ext === '.cjs' || ext === '.cts' ? 'cjs' : 'esm',
      logLevel: 'silent',
    });
  } catch (error) {
    const first = (error as { errors?: EsbuildMessage[] }).errors?.[0];
    if (first === undefined) {
      throw new ConfigFileError(file, `cannot be parsed (${firstLine(error)})`, [], {
        cause: error,
      });
    }
    const where =
      first.location === null || first.location === undefined
        ? file
        : `${file}:${first.location.line}:${first.location.column + 1}`;
    throw new ConfigFileError(file, `has a syntax error at ${where}: ${first.text}`, [], {
      cause: error,
    });
  }
}

interface EsbuildMessage {
  readonly text: string;
  readonly location?: { readonly line: number; readonly column: number } | null;
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

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

function codeOf(error: unknown): string {
  return String((error as NodeJS.ErrnoException)?.code ?? firstLine(error));
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split('\n')[0] ?? '';
}
