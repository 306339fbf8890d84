/**
 * `npm run limits -- <command>`: set, read, list and delete run-time
 * overrides through the regional API's `/v1/overrides` routes
 * (docs/configuration.md, "Overrides"), so that every change is validated
 * against the deployed config and logged with the caller's IAM identity.
 *
 * Where it goes (one of):
 * - `--local [--port BASE]`: the local runtime's first regional API (`npm start`);
 * - `--api-url URL`: any regional API, a function URL calls are SigV4-signed
 *   for (service `lambda`, the region read from the URL or `--region`);
 * - `--region R [--config FILE]`: that region's deployed API, its URL read
 *   from the `<appName>-<region>` stack's `ApiUrl` output.
 *
 * Credentials come from the AWS SDK's default provider chain (environment,
 * profile, SSO, instance role), borrowed from a DynamoDB client's resolved
 * config; the signer is the SDK's own (`@smithy/signature-v4`).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { OverrideMode, OverrideSettings } from '../functions/config/overrides';
import { OVERRIDE_MODES } from '../functions/config/overrides';
import { planPorts } from '../local/ports';

/** A usage error: printed with a pointer to `--help`, exit code 2. */
export class LimitsUsageError extends Error {
  override readonly name = 'LimitsUsageError';
}

/** Where the command sends its calls. */
export type LimitsTarget =
  | { readonly kind: 'url'; readonly url: string; readonly region?: string; readonly sign: boolean }
  | { readonly kind: 'stack'; readonly region: string; readonly configFile: string };

/** One parsed command. */
export type LimitsCommand =
  | { readonly action: 'help' }
  | { readonly action: 'list'; readonly target: LimitsTarget; readonly deleted: boolean }
  | {
      readonly action: 'get' | 'delete';
      readonly target: LimitsTarget;
      readonly policy: string;
      readonly key?: string;
      readonly reason?: string;
    }
  | {
      readonly action: 'set';
      readonly target: LimitsTarget;
      readonly policy: string;
      readonly key?: string;
      readonly settings: OverrideSettings;
      readonly reason?: string;
    };

/** Base port of the local runtime (`npm start`'s default `--port`). */
export const LOCAL_BASE_PORT = 8400;

export const USAGE = `Usage: npm run limits -- <command> [options] <target>

Commands:
  list [--deleted]                 every override (with --deleted, tombstones too)
  get <policy> [<key>]             one override
  set <policy> [<key>] <settings>  create or replace an override
  delete <policy> [<key>]          delete an override (recorded as a tombstone)

Settings (set):
  --capacity N        burst size (tokens)
  --refill N          tokens per refill interval
  --factor X          multiply capacity and refill (10: ten times the limit)
  --shadow, --no-shadow
  --deny, --allow, --limit
                      per key: always refuse (403), never limit, limit even if listed
  --disable, --enable policy level: limit no key / limit again
  --allow-key K, --deny-key K
                      policy level: add keys to the lists (repeatable)
  --settings JSON     the settings as JSON, e.g. '{"factor":10}' (merged with the flags)
  --reason TEXT       why (kept with the override; set and delete)

Target (one):
  --local [--port BASE]  the local runtime's first regional API (default base ${LOCAL_BASE_PORT})
  --api-url URL          a regional API; function URLs are SigV4-signed (--region to override the region)
  --region R [--config FILE]
                         region R's deployed API, found from the stack <appName>-R
                         (config default: limiter.config.ts)

Examples:
  npm run limits -- set api acme --factor 10 --reason "contract 12" --region eu-west-1
  npm run limits -- set api k --deny --reason "abuse, ticket 7" --api-url https://x.lambda-url.eu-west-1.on.aws
  npm run limits -- delete api k --local
  npm run limits -- list --local`;

/** Parses the command line (without `node` and the script). */
export function parseLimitsArgs(argv: readonly string[]): LimitsCommand {
  let parsed: ReturnType<typeof parseWith>;
  try {
    parsed = parseWith(argv);
  } catch (error) {
    throw new LimitsUsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true || positionals.length === 0) return { action: 'help' };
  const [action, policy, key, ...extra] = positionals;
  if (extra.length > 0) throw new LimitsUsageError(`unexpected argument "${extra[0]}"`);
  const target = targetOf(values);
  const reason = values.reason;
  if (action === 'list') {
    if (policy !== undefined) throw new LimitsUsageError('list takes no policy or key');
    return { action, target, deleted: values.deleted === true };
  }
  if (action !== 'get' && action !== 'set' && action !== 'delete') {
    throw new LimitsUsageError(`unknown command "${action}": use list, get, set or delete`);
  }
  if (policy === undefined) throw new LimitsUsageError(`${action} needs a policy`);
  const base = {
    target,
    policy,
    ...(key === undefined ? {} : { key }),
    ...(reason === undefined ? {} : { reason }),
  };
  if (action !== 'set') {
    if (settingFlagGiven(values)) throw new LimitsUsageError(`${action} takes no settings`);
    return { action, ...base };
  }
  const settings = settingsOf(values);
  if (Object.keys(settings).length === 0) {
    throw new LimitsUsageError('set needs at least one setting (see --help)');
  }
  return { action, ...base, settings };
}

function parseWith(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      deleted: { type: 'boolean' },
      capacity: { type: 'string' },
      refill: { type: 'string' },
      factor: { type: 'string' },
      shadow: { type: 'boolean' },
      'no-shadow': { type: 'boolean' },
      deny: { type: 'boolean' },
      allow: { type: 'boolean' },
      limit: { type: 'boolean' },
      disable: { type: 'boolean' },
      enable: { type: 'boolean' },
      'allow-key': { type: 'string', multiple: true },
      'deny-key': { type: 'string', multiple: true },
      settings: { type: 'string' },
      reason: { type: 'string' },
      local: { type: 'boolean' },
      port: { type: 'string' },
      'api-url': { type: 'string' },
      region: { type: 'string' },
      config: { type: 'string' },
    },
  });
}

type Values = ReturnType<typeof parseWith>['values'];

const SETTING_FLAGS = [
  'capacity',
  'refill',
  'factor',
  'shadow',
  'no-shadow',
  'deny',
  'allow',
  'limit',
  'disable',
  'enable',
  'allow-key',
  'deny-key',
  'settings',
] as const;

function settingFlagGiven(values: Values): boolean {
  return SETTING_FLAGS.some((flag) => values[flag] !== undefined);
}

/** The settings the flags give. Values are checked by the API (every problem at once). */
function settingsOf(values: Values): OverrideSettings {
  let fromJson: Record<string, unknown> = {};
  if (values.settings !== undefined) {
    try {
      fromJson = JSON.parse(values.settings) as Record<string, unknown>;
    } catch {
      throw new LimitsUsageError('--settings is not valid JSON');
    }
    if (typeof fromJson !== 'object' || fromJson === null || Array.isArray(fromJson)) {
      throw new LimitsUsageError('--settings must be a JSON object');
    }
  }
  const modes = (['deny', 'allow', 'limit'] as const).filter((m) => values[m] === true);
  if (modes.length > 1) throw new LimitsUsageError('give one of --deny, --allow and --limit');
  if (values.shadow === true && values['no-shadow'] === true) {
    throw new LimitsUsageError('give one of --shadow and --no-shadow');
  }
  if (values.disable === true && values.enable === true) {
    throw new LimitsUsageError('give one of --disable and --enable');
  }
  const mode: OverrideMode | undefined = modes[0];
  if (mode !== undefined && !OVERRIDE_MODES.includes(mode)) throw new LimitsUsageError('bad mode');
  return {
    ...fromJson,
    ...(values.capacity === undefined
      ? {}
      : { capacityTokens: number('--capacity', values.capacity) }),
    ...(values.refill === undefined ? {} : { refillTokens: number('--refill', values.refill) }),
    ...(values.factor === undefined ? {} : { factor: number('--factor', values.factor) }),
    ...(values.shadow === true ? { shadow: true } : {}),
    ...(values['no-shadow'] === true ? { shadow: false } : {}),
    ...(mode === undefined ? {} : { mode }),
    ...(values.disable === true ? { enabled: false } : {}),
    ...(values.enable === true ? { enabled: true } : {}),
    ...(values['allow-key'] === undefined ? {} : { allowKeys: values['allow-key'] }),
    ...(values['deny-key'] === undefined ? {} : { denyKeys: values['deny-key'] }),
  };
}

function number(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) {
    throw new LimitsUsageError(`${flag} must be a number (got "${text}")`);
  }
  return value;
}

function targetOf(values: Values): LimitsTarget {
  const given = [values.local === true, values['api-url'] !== undefined].filter(Boolean).length;
  if (given > 1) throw new LimitsUsageError('give one of --local and --api-url');
  if (values.port !== undefined && values.local !== true) {
    throw new LimitsUsageError('--port goes with --local');
  }
  if (values.local === true) {
    if (values.region !== undefined)
      throw new LimitsUsageError('--region does not go with --local');
    const base = values.port === undefined ? LOCAL_BASE_PORT : Number(values.port);
    if (!Number.isSafeInteger(base) || base < 1024 || base > 65_000) {
      throw new LimitsUsageError(`--port must be a base port 1024-65000 (got "${values.port}")`);
    }
    const api = planPorts(base, 1).regions[0]?.api as number;
    return { kind: 'url', url: `http://127.0.0.1:${api}`, sign: false };
  }
  const apiUrl = values['api-url'];
  if (apiUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(apiUrl);
    } catch {
      throw new LimitsUsageError(`--api-url is not a URL (got "${apiUrl}")`);
    }
    const region = values.region ?? regionOfFunctionUrl(url.hostname);
    const sign = url.protocol === 'https:';
    if (sign && region === undefined) {
      throw new LimitsUsageError(
        '--api-url is not a function URL (<id>.lambda-url.<region>.on.aws): give --region to sign for',
      );
    }
    return {
      kind: 'url',
      url: url.origin + url.pathname.replace(/\/$/, ''),
      ...(region === undefined ? {} : { region }),
      sign,
    };
  }
  if (values.region !== undefined) {
    return {
      kind: 'stack',
      region: values.region,
      configFile: values.config ?? 'limiter.config.ts',
    };
  }
  throw new LimitsUsageError('say where: --local, --api-url URL or --region R (see --help)');
}

/** The region of a function URL host (`<id>.lambda-url.<region>.on.aws`). */
export function regionOfFunctionUrl(hostname: string): string | undefined {
  return /^[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$/.exec(hostname)?.[1];
}

/** One HTTP call the command makes. */
export interface LimitsRequest {
  readonly method: 'GET' | 'PUT' | 'DELETE';
  /** Path and query, e.g. `/v1/overrides/api/acme`. */
  readonly path: string;
  readonly body?: string;
}

/** The call a command makes (the path segments URL-encoded). */
export function requestOf(command: Exclude<LimitsCommand, { action: 'help' }>): LimitsRequest {
  if (command.action === 'list') {
    return { method: 'GET', path: `/v1/overrides${command.deleted ? '?deleted=true' : ''}` };
  }
  const path = `/v1/overrides/${encodeURIComponent(command.policy)}${
    command.key === undefined ? '' : `/${encodeURIComponent(command.key)}`
  }`;
  if (command.action === 'set') {
    return {
      method: 'PUT',
      path,
      body: JSON.stringify({
        settings: command.settings,
        ...(command.reason === undefined ? {} : { reason: command.reason }),
      }),
    };
  }
  if (command.action === 'get') return { method: 'GET', path };
  return {
    method: 'DELETE',
    path:
      command.reason === undefined ? path : `${path}?reason=${encodeURIComponent(command.reason)}`,
  };
}

/** Signs and sends a request to a function URL (or sends it as is when unsigned). */
async function send(
  target: Extract<LimitsTarget, { kind: 'url' }>,
  request: LimitsRequest,
): Promise<Response> {
  const url = new URL(target.url + request.path);
  const headers: Record<string, string> = {
    host: url.host,
    'x-limits-actor': process.env.USER ?? 'unknown',
    ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
  };
  if (!target.sign) {
    return fetch(url, { method: request.method, headers, body: request.body ?? null });
  }
  const signed = await signRequest(target.region as string, 'lambda', url, request, headers);
  return fetch(url, { method: request.method, headers: signed, body: request.body ?? null });
}

async function signRequest(
  region: string,
  service: string,
  url: URL,
  request: { readonly method: string; readonly body?: string },
  headers: Record<string, string>,
): Promise<Record<string, string>> {
  const [{ SignatureV4 }, { Hash }, { DynamoDBClient }] = await Promise.all([
    import('@smithy/signature-v4'),
    import('@smithy/hash-node'),
    import('@aws-sdk/client-dynamodb'),
  ]);
  // The SDK's default credential chain, as any AWS CLI user has it set up.
  const client = new DynamoDBClient({ region });
  const credentials = await client.config.credentials();
  client.destroy();
  const signer = new SignatureV4({
    credentials,
    region,
    service,
    sha256: Hash.bind(null, 'sha256'),
  });
  const query = Object.fromEntries(url.searchParams.entries());
  const signed = await signer.sign({
    method: request.method,
    protocol: url.protocol,
    hostname: url.hostname,
    path: url.pathname,
    query,
    headers,
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  return signed.headers as Record<string, string>;
}

/** The deployed API's URL in `region`: the `ApiUrl` output of the stack `<appName>-<region>`. */
async function stackApiUrl(target: Extract<LimitsTarget, { kind: 'stack' }>): Promise<string> {
  const { loadConfigFile } = await import('../local/config-file');
  const config = await loadConfigFile(target.configFile);
  const stackName = `${config.appName}-${target.region}`;
  const url = new URL(`https://cloudformation.${target.region}.amazonaws.com/`);
  const body = new URLSearchParams({
    Action: 'DescribeStacks',
    Version: '2010-05-15',
    StackName: stackName,
  }).toString();
  const headers = {
    host: url.host,
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
  };
  const signed = await signRequest(
    target.region,
    'cloudformation',
    url,
    { method: 'POST', body },
    headers,
  );
  const res = await fetch(url, { method: 'POST', headers: signed, body });
  const text = await res.text();
  if (!res.ok) {
    const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? `HTTP ${res.status}`;
    throw new Error(`cannot read stack ${stackName} in ${target.region}: ${message}`);
  }
  const apiUrl = apiUrlOfStacks(text);
  if (apiUrl === undefined) throw new Error(`stack ${stackName} has no ApiUrl output`);
  return apiUrl;
}

/** The `ApiUrl` output in a `DescribeStacks` answer (XML), without a trailing slash. */
export function apiUrlOfStacks(xml: string): string | undefined {
  for (const member of xml.split('<member>')) {
    if (!/<OutputKey>ApiUrl<\/OutputKey>/.test(member)) continue;
    const value = /<OutputValue>([^<]+)<\/OutputValue>/.exec(member)?.[1];
    if (value !== undefined) return value.replace(/\/$/, '');
  }
  return undefined;
}

/** Runs a command; resolves to the exit code. */
export async function runLimits(
  command: LimitsCommand,
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  err: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<number> {
  if (command.action === 'help') {
    out(USAGE);
    return 0;
  }
  const target: Extract<LimitsTarget, { kind: 'url' }> =
    command.target.kind === 'url'
      ? command.target
      : {
          kind: 'url',
          url: await stackApiUrl(command.target),
          region: command.target.region,
          sign: true,
        };
  const request = requestOf(command);
  let res: Response;
  try {
    res = await send(target, request);
  } catch (error) {
    err(
      `cannot reach ${target.url}: ${(error as Error).message}${
        target.url.startsWith('http://127.0.0.1') ? ' (is `npm start` running?)' : ''
      }`,
    );
    return 1;
  }
  const text = await res.text();
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = text;
  }
  if (res.ok) {
    out(JSON.stringify(answer, null, 2));
    return 0;
  }
  const problem = answer as { message?: string; problems?: { path: string; message: string }[] };
  if (Array.isArray(problem.problems)) {
    err(`refused (${res.status}): ${problem.problems.length} problem(s):`);
    for (const p of problem.problems) err(`  - ${p.path}: ${p.message}`);
  } else {
    err(`refused (${res.status}): ${problem.message ?? text}`);
  }
  if (res.status === 403 && target.sign) {
    err('  (the caller needs lambda:InvokeFunctionUrl on the API: regionalApi.callers)');
  }
  return 1;
}

async function main(): Promise<void> {
  let command: LimitsCommand;
  try {
    command = parseLimitsArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof LimitsUsageError) {
      process.stderr.write(`limits: ${error.message}\nRun npm run limits -- --help for usage.\n`);
      process.exit(2);
    }
    throw error;
  }
  try {
    process.exitCode = await runLimits(command);
  } catch (error) {
    process.stderr.write(`limits: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
