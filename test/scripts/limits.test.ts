/**
 * The `npm run limits` command's arguments: commands, settings flags, targets,
 * the calls they turn into, and clear usage errors.
 */
import { describe, expect, it } from 'vitest';
import { CLI_DEFAULTS } from '../../local/cli';
import { planPorts } from '../../local/ports';
import {
  apiUrlOfStacks,
  LimitsUsageError,
  LOCAL_BASE_PORT,
  parseLimitsArgs,
  regionOfFunctionUrl,
  requestOf,
  runLimits,
} from '../../scripts/limits';

const LOCAL = ['--local'];

function usageError(argv: string[]): string {
  try {
    parseLimitsArgs(argv);
  } catch (error) {
    if (error instanceof LimitsUsageError) return error.message;
    throw error;
  }
  throw new Error(`no usage error for ${argv.join(' ')}`);
}

describe('parseLimitsArgs', () => {
  it('parses a 10x tenant override against the local runtime', () => {
    expect(
      parseLimitsArgs(['set', 'api', 'acme', '--factor', '10', '--reason', 'deal', ...LOCAL]),
    ).toEqual({
      action: 'set',
      target: {
        kind: 'url',
        url: `http://127.0.0.1:${planPorts(LOCAL_BASE_PORT, 1).regions[0]?.api}`,
        sign: false,
      },
      policy: 'api',
      key: 'acme',
      reason: 'deal',
      settings: { factor: 10 },
    });
  });

  it('turns every setting flag into its field, merged over --settings', () => {
    const command = parseLimitsArgs([
      'set',
      'api',
      '--capacity',
      '500',
      '--refill=50',
      '--no-shadow',
      '--disable',
      '--allow-key',
      'a',
      '--allow-key',
      'b',
      '--deny-key',
      'c',
      '--settings',
      '{"capacityTokens":1,"factor":2}',
      ...LOCAL,
    ]);
    expect(command).toMatchObject({
      action: 'set',
      policy: 'api',
      settings: {
        capacityTokens: 500,
        refillTokens: 50,
        factor: 2,
        shadow: false,
        enabled: false,
        allowKeys: ['a', 'b'],
        denyKeys: ['c'],
      },
    });
    expect(parseLimitsArgs(['set', 'api', 'k', '--deny', ...LOCAL])).toMatchObject({
      settings: { mode: 'deny' },
    });
  });

  it("defaults --local to npm start's base port", () => {
    expect(LOCAL_BASE_PORT).toBe(CLI_DEFAULTS.basePort);
  });

  it('reads the target: a local base port, a function URL and its region, a stack', () => {
    expect(parseLimitsArgs(['list', '--local', '--port', '9000'])).toMatchObject({
      target: { url: 'http://127.0.0.1:9011', sign: false },
    });
    expect(
      parseLimitsArgs(['get', 'api', '--api-url', 'https://abc123.lambda-url.eu-west-1.on.aws/']),
    ).toMatchObject({
      target: {
        kind: 'url',
        url: 'https://abc123.lambda-url.eu-west-1.on.aws',
        region: 'eu-west-1',
        sign: true,
      },
    });
    expect(parseLimitsArgs(['list', '--region', 'us-east-1'])).toMatchObject({
      target: { kind: 'stack', region: 'us-east-1', configFile: 'limiter.config.ts' },
    });
  });

  it('answers help for --help and for no command', () => {
    expect(parseLimitsArgs(['--help'])).toEqual({ action: 'help' });
    expect(parseLimitsArgs([])).toEqual({ action: 'help' });
  });

  it('refuses bad usage with a sentence naming the problem', () => {
    expect(usageError(['set', 'api', '--local'])).toMatch(/at least one setting/);
    expect(usageError(['set', 'api', 'k', '--deny', '--allow', '--local'])).toMatch(
      /one of --deny/,
    );
    expect(usageError(['set', 'api', '--factor', 'ten', '--local'])).toMatch(
      /--factor must be a number/,
    );
    expect(usageError(['set', 'api', '--deny'])).toMatch(/say where/);
    expect(usageError(['frob', 'api', '--local'])).toMatch(/unknown command "frob"/);
    expect(usageError(['get', '--local'])).toMatch(/get needs a policy/);
    expect(usageError(['get', 'api', 'k', '--deny', '--local'])).toMatch(/takes no settings/);
    expect(usageError(['list', '--local', '--api-url', 'http://x'])).toMatch(/one of --local/);
    expect(usageError(['list', '--bogus', '--local'])).toMatch(/bogus/);
    expect(usageError(['list', '--api-url', 'https://example.com'])).toMatch(/give --region/);
    expect(usageError(['set', 'api', '--settings', '[1]', '--local'])).toMatch(/JSON object/);
  });
});

describe('requestOf', () => {
  it('encodes policy and key as path segments and the reason of a delete as a query', () => {
    const target = { kind: 'url', url: 'http://x', sign: false } as const;
    expect(
      requestOf({ action: 'delete', target, policy: 'api', key: 'a/b#c', reason: 'done now' }),
    ).toEqual({ method: 'DELETE', path: '/v1/overrides/api/a%2Fb%23c?reason=done%20now' });
    expect(requestOf({ action: 'list', target, deleted: true })).toEqual({
      method: 'GET',
      path: '/v1/overrides?deleted=true',
    });
    expect(
      requestOf({ action: 'set', target, policy: 'api', settings: { shadow: true }, reason: 'r' }),
    ).toEqual({
      method: 'PUT',
      path: '/v1/overrides/api',
      body: '{"settings":{"shadow":true},"reason":"r"}',
    });
  });
});

describe('regionOfFunctionUrl', () => {
  it('reads the region of a function URL host only', () => {
    expect(regionOfFunctionUrl('abc.lambda-url.ap-southeast-2.on.aws')).toBe('ap-southeast-2');
    expect(regionOfFunctionUrl('api.example.com')).toBeUndefined();
  });
});

describe('apiUrlOfStacks', () => {
  it("reads the ApiUrl output of a DescribeStacks answer, whatever the members' order", () => {
    const xml = `<DescribeStacksResponse><DescribeStacksResult><Stacks><member><Outputs>
      <member><OutputKey>AlarmTopicArn</OutputKey><OutputValue>arn:aws:sns:x</OutputValue></member>
      <member><Description>Regional rating API (function URL)</Description>
        <OutputValue>https://abc.lambda-url.eu-west-1.on.aws/</OutputValue><OutputKey>ApiUrl</OutputKey></member>
      </Outputs><StackName>App-eu-west-1</StackName></member></Stacks></DescribeStacksResult></DescribeStacksResponse>`;
    expect(apiUrlOfStacks(xml)).toBe('https://abc.lambda-url.eu-west-1.on.aws');
    expect(apiUrlOfStacks('<Outputs></Outputs>')).toBeUndefined();
  });
});

describe('runLimits', () => {
  it('prints the usage for help', async () => {
    const lines: string[] = [];
    expect(await runLimits({ action: 'help' }, (l) => lines.push(l))).toBe(0);
    expect(lines.join('\n')).toMatch(/Usage: npm run limits -- <command>/);
  });
});
