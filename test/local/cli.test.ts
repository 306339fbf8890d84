import { describe, expect, it } from 'vitest';
import { CLI_DEFAULTS, CliUsageError, parseCli } from '../../local/cli';
import { planPorts } from '../../local/ports';
import {
  AWS_COMMERCIAL_REGIONS,
  closestRegions,
  editDistance,
  isKnownRegion,
} from '../../local/regions';

describe('parseCli', () => {
  it('applies the defaults when no flag is given', () => {
    const cli = parseCli([]);
    expect(cli.lagMs).toBe(CLI_DEFAULTS.lagMs);
    expect(cli.basePort).toBe(CLI_DEFAULTS.basePort);
    expect(cli.regions).toBeUndefined();
    expect(cli.watch).toEqual([]);
    expect(cli.help).toBe(false);
    expect(cli.realistic).toBe(false);
    expect(cli.edgeRegions).toBeUndefined();
    expect(cli.seed).toBe(CLI_DEFAULTS.seed);
  });

  it('turns the network model on with --realistic, or with edge regions (which imply it)', () => {
    expect(parseCli(['--realistic'])).toMatchObject({ realistic: true });
    expect(parseCli(['--realistic']).edgeRegions).toBeUndefined();
    expect(parseCli(['--edge-regions', 'sa-east-1, ap-southeast-2', '--seed=7'])).toMatchObject({
      realistic: true,
      edgeRegions: ['sa-east-1', 'ap-southeast-2'],
      seed: 7,
    });
  });

  it('reads every flag, in both spellings', () => {
    const cli = parseCli([
      '--lag',
      '350',
      '--jitter=20',
      '--regions',
      'us-east-1, eu-west-1',
      '--config',
      'my.config.ts',
      '--port=0',
      '--origin',
      'http://127.0.0.1:9000/base',
      '--reconcile-ms',
      '1000',
      '--watch',
      'demo:alice',
      '--watch=api:k:with:colons',
      '--status-ms',
      '2000',
    ]);
    expect(cli).toMatchObject({
      lagMs: 350,
      jitterMs: 20,
      regions: ['us-east-1', 'eu-west-1'],
      configFile: 'my.config.ts',
      basePort: 0,
      originUrl: 'http://127.0.0.1:9000/base',
      reconcileEveryMs: 1000,
      statusEveryMs: 2000,
      watch: [
        { policy: 'demo', key: 'alice' },
        { policy: 'api', key: 'k:with:colons' },
      ],
    });
  });

  it.each([
    [['--bogus'], /unknown flag --bogus/],
    [['stray'], /unexpected argument "stray"/],
    [['--lag'], /--lag needs a value/],
    [['--lag', '--jitter', '3'], /--lag needs a value/],
    [['--lag', '-5'], /--lag must be an integer/],
    [['--lag', '1.5'], /--lag must be an integer/],
    [['--port', '80'], /--port must be 0 or at least 1024/],
    [['--port', '70000'], /--port must be an integer from 0 to 65535/],
    [['--origin', 'https://example.com'], /--origin must be an http:\/\/ URL/],
    [['--origin', 'not a url'], /--origin must be an http:\/\/ URL/],
    [['--regions', 'a,,b'], /comma-separated/],
    [['--regions', 'a,a'], /twice/],
    [
      ['--regions', 'us-east-1,xx-fake-1'],
      /^--regions: "xx-fake-1" is not an AWS region \(closest: /,
    ],
    [['--regions', 'us-gov-west-1'], /"us-gov-west-1" is not an AWS region/],
    [['--watch', 'demo'], /POLICY:KEY/],
    [['--reconcile-ms', '10'], /at least 100/],
    [['--lag', '1', '--lag', '2'], /given twice/],
    [['--realistic=yes'], /--realistic takes no value/],
    [['--realistic', '--realistic'], /--realistic given twice/],
    [['--edge-regions'], /--edge-regions needs a value/],
    [['--edge-regions', 'sa-east-1,,us-east-1'], /--edge-regions must be a comma-separated list/],
    [['--edge-regions', 'sa-east-1,sa-east-1'], /--edge-regions lists a region twice/],
    [
      ['--edge-regions', 'sa-east-1,sa-east-9,mars-1'],
      /^--edge-regions: "sa-east-9" is not an AWS region \(closest: sa-east-1.*; "mars-1" is not an AWS region/,
    ],
    [['--seed', '-1'], /--seed must be an integer from 0 to 4294967295/],
  ])('refuses %j with one clear message', (argv, message) => {
    expect(() => parseCli(argv)).toThrow(CliUsageError);
    expect(() => parseCli(argv)).toThrow(message);
  });

  it('recognises --help and -h', () => {
    expect(parseCli(['--help']).help).toBe(true);
    expect(parseCli(['-h']).help).toBe(true);
  });
});

describe('planPorts', () => {
  it('derives every port from the base, without overlaps', () => {
    const plan = planPorts(8400, 3, 2);
    expect(plan.admin).toBe(8400);
    expect(plan.origin).toBe(8401);
    expect(plan.regions[0]).toEqual({
      edge: 8410,
      api: 8411,
      store: 8412,
      proxy: 8413,
      strongProxy: 8414,
    });
    expect(plan.regions[2]).toMatchObject({ edge: 8430, api: 8431, store: 8432 });
    expect(plan.edgeOnly).toEqual([
      { edge: 8440, proxy: 8443, strongProxy: 8444 },
      { edge: 8450, proxy: 8453, strongProxy: 8454 },
    ]);
    const all = [
      plan.admin,
      plan.origin,
      ...plan.regions.flatMap(Object.values),
      ...plan.edgeOnly.flatMap(Object.values),
    ];
    expect(new Set(all).size).toBe(all.length);
  });

  it('asks for free ports everywhere with base 0', () => {
    const plan = planPorts(0, 2, 1);
    expect([
      plan.admin,
      plan.origin,
      ...plan.regions.flatMap(Object.values),
      ...plan.edgeOnly.flatMap(Object.values),
    ]).toEqual(new Array(15).fill(0));
  });

  it('refuses a base that would run past port 65535', () => {
    expect(() => planPorts(65_500, 4)).toThrow(RangeError);
    expect(() => planPorts(65_400, 3, 14)).toThrow(/no room for 17 regions/);
  });
});

describe('known regions', () => {
  it('knows the commercial regions, not the look-alikes, GovCloud or China', () => {
    for (const r of ['us-east-1', 'eu-west-1', 'ap-southeast-1', 'sa-east-1']) {
      expect(isKnownRegion(r)).toBe(true);
    }
    for (const r of ['xx-fake-1', 'us-east-9', 'us-gov-west-1', 'cn-north-1', 'US-EAST-1', '']) {
      expect(isKnownRegion(r)).toBe(false);
    }
    expect(AWS_COMMERCIAL_REGIONS.length).toBeGreaterThanOrEqual(30);
    expect([...AWS_COMMERCIAL_REGIONS].sort()).toEqual(AWS_COMMERCIAL_REGIONS);
  });

  it('suggests the closest names for a typo', () => {
    expect(closestRegions('eu-wst-1')[0]).toBe('eu-west-1');
    expect(closestRegions('us-east-3', 2)).toEqual(['us-east-1', 'us-east-2']);
    expect(closestRegions('ap-southeast-8', 1)).toEqual(['ap-southeast-1']);
  });

  it.each([
    ['', '', 0],
    ['abc', '', 3],
    ['kitten', 'sitting', 3],
    ['eu-west-1', 'eu-west-1', 0],
    ['eu-west-1', 'eu-west-2', 1],
  ])('editDistance(%j, %j) = %d', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
});
