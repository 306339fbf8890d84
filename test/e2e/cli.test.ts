import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ORIGIN_HEADERS } from '../../functions/edge/responses';
import { config as projectConfig } from '../../limiter.config';
import { config as demoConfig } from '../../local/demo.config';
import type { EchoBody } from '../../local/echo-origin';
import {
  type Launcher,
  linesOf,
  portsIn,
  portsInUse,
  runProcess,
  signalGroup,
  startProcess,
  waitFor,
} from './processes';

const MAIN = 'local/main.ts';
const BANNER_END = 'Ctrl-C stops everything.';
/** Longest wait for a start (bundles, nine regions) on a busy machine. */
const STARTUP_MS = 90_000;
const NINE_REGIONS = [
  'us-east-1',
  'us-east-2',
  'us-west-2',
  'eu-west-1',
  'eu-central-1',
  'ap-southeast-1',
  'ap-northeast-1',
  'sa-east-1',
  'ca-central-1',
];

describe('npm start (the CLI)', () => {
  it.each([
    [
      ['--lag', 'fast'],
      'error: --lag must be an integer from 0 to 600000 (got "fast") (see --help)',
    ],
    [
      ['--regions', 'us-east-1,xx-fake-1'],
      'error: --regions: "xx-fake-1" is not an AWS region (closest: ap-east-1, sa-east-1, us-east-1) (see --help)',
    ],
    [
      ['--edge-regions', 'sa-east-1,eu-wset-1'],
      'error: --edge-regions: "eu-wset-1" is not an AWS region (closest: eu-west-1, eu-west-2, eu-west-3) (see --help)',
    ],
    [
      ['--watch', 'nope:alice'],
      `error: --watch names no policy of local/demo.config.ts: nope (policies: ${demoConfig.policies.map((p) => p.id).join(', ')}) (see --help)`,
    ],
  ])('refuses %j with one line and exit code 2', async (args, line) => {
    const result = await runProcess('node', MAIN, args);
    expect(result.code).toBe(2);
    expect(linesOf(result.stderr)).toEqual([line]);
  });

  it('refuses a port in use with one line and exit code 1', async () => {
    const blocker = net.createServer();
    const port = await new Promise<number>((resolve) =>
      blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as net.AddressInfo).port)),
    );
    try {
      const result = await runProcess('node', MAIN, ['--port', String(port)]);
      expect(result.code).toBe(1);
      expect(linesOf(result.stderr)).toEqual([
        `error: port ${port} (admin) is already in use on 127.0.0.1`,
      ]);
    } finally {
      blocker.close();
    }
  });

  it('starts, serves, prints status lines when piped, and stops cleanly on Ctrl-C', async () => {
    const { child, done, stdout } = startProcess(
      'node',
      MAIN,
      [
        '--port',
        '0',
        '--regions',
        'us-east-1,eu-west-1',
        '--status-ms',
        '300',
        '--reconcile-ms',
        '500',
      ],
      { group: true },
    );
    await waitFor(
      () => stdout().includes(BANNER_END) || child.exitCode !== null,
      () => stdout(),
      STARTUP_MS,
    );
    const edge = /us-east-1\s+edge (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout())?.[1];
    expect(edge, stdout()).toBeDefined();
    const res = await fetch(`${edge}/demo/cli`, { headers: { 'x-api-key': 'cli' } });
    expect(res.status).toBe(200);
    const demo = projectConfig.policies.find((p) => p.id === 'demo');
    // The demo config keeps the default clientHeaders 'none': the origin got the decision, the client no headers.
    expect(res.headers.get('ratelimit')).toBeNull();
    const echo = (await res.json()) as EchoBody;
    expect(echo.rateLimitHeaders[ORIGIN_HEADERS.state]).toMatch(
      new RegExp(`^"demo";r=${(demo?.capacityTokens ?? 0) - 1};`),
    );
    // The regions' reconcilers run in turn: wait until both have reported alice's level.
    const reported =
      /\[status\] us-east-1: allowed=1 [^\n]*syncLag="\d+ ms[^"]*"[^\n]*\n[\s\S]*watched demo:alice: us-east-1=\d+ eu-west-1=\d/;
    await waitFor(
      () => reported.test(stdout()),
      () => stdout(),
      STARTUP_MS,
    );
    signalGroup(child, 'SIGINT');
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\[status\] us-east-1: allowed=1 refused=0/);
    // alice is watched by the demo config and untouched: a full bucket in both regions.
    const full = demo?.capacityTokens;
    expect(result.stdout).toContain(
      `[status] watched demo:alice: us-east-1=${full} eu-west-1=${full}\n`,
    );
    expect(result.stdout.trimEnd().endsWith('stopped')).toBe(true);
    expect(result.stdout).not.toContain('\x1b[');
    expect(result.stderr).toBe('');
  });

  it('suggests no cut with one region: the admin endpoint needs two', async () => {
    const { child, done, stdout } = startProcess('node', MAIN, [
      '--port',
      '0',
      '--regions',
      'eu-west-1',
    ]);
    await waitFor(
      () => stdout().includes(BANNER_END) || child.exitCode !== null,
      () => stdout(),
      STARTUP_MS,
    );
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('1 region,');
    expect(result.stdout).not.toContain('/admin/cut');
    expect(result.stdout).toMatch(
      /curl -s -X POST '[^']+\/admin\/down\?region=eu-west-1&down=true'/,
    );
  });

  // However it is started and stopped, the runtime stops cleanly: exit code
  // 0, and every port it printed is free as soon as the process is gone.
  it.each<[string, Launcher, NodeJS.Signals, 'group' | 'process', readonly string[]]>([
    ['npm start, SIGTERM to npm', 'npm', 'SIGTERM', 'process', ['us-east-1', 'eu-west-1']],
    ['npm start, Ctrl-C with 9 regions', 'npm', 'SIGINT', 'group', NINE_REGIONS],
    ['tsx, Ctrl-C', 'tsx', 'SIGINT', 'group', ['us-east-1', 'eu-west-1']],
    ['tsx, SIGTERM to tsx', 'tsx', 'SIGTERM', 'process', ['us-east-1', 'eu-west-1']],
  ])('%s: exits 0 with every port free', async (_name, launcher, signal, target, regions) => {
    const args = ['--port', '0', '--regions', regions.join(','), '--reconcile-ms', '1000'];
    const { child, done, stdout } = startProcess(launcher, MAIN, args, {
      group: target === 'group',
    });
    await waitFor(
      () => stdout().includes(BANNER_END) || child.exitCode !== null,
      () => stdout(),
      STARTUP_MS,
    );
    const ports = portsIn(stdout());
    // admin, origin, and edge, API and DynamoDB per region
    expect(ports, stdout()).toHaveLength(2 + 3 * regions.length);
    if (target === 'group') signalGroup(child, signal);
    else child.kill(signal);
    const result = await done;
    expect({ code: result.code, signal: result.signal }, result.stdout + result.stderr).toEqual({
      code: 0,
      signal: null,
    });
    expect(await portsInUse(ports)).toEqual([]);
    expect(result.stdout).toContain(`${signal}: stopping...`);
    expect(result.stdout.trimEnd().endsWith('stopped')).toBe(true);
    expect(result.stderr).not.toMatch(/again|error/i);
  });
});
