import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { config as projectConfig } from '../../limiter.config';

/** The CLI as `npm start` runs it (tsx directly, so npm's own notices stay out of stderr). */
const TSX = path.join('node_modules', '.bin', 'tsx');
const MAIN = path.join('local', 'main.ts');

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(args: readonly string[]): {
  child: ChildProcess;
  done: Promise<Run>;
  out: () => string;
} {
  const child = spawn(TSX, [MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const done = new Promise<Run>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, out: () => stdout };
}

async function run(args: readonly string[], timeoutMs = 30_000): Promise<Run> {
  const { child, done } = start(args);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const result = await done;
  clearTimeout(timer);
  return result;
}

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.trim() !== '');

describe('npm start (the CLI)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'limiter-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a bad flag with one line and exit code 2', async () => {
    const result = await run(['--lag', 'fast']);
    expect(result.code).toBe(2);
    expect(errorLines(result.stderr)).toEqual([
      'error: --lag must be an integer from 0 to 600000 (got "fast") (see --help)',
    ]);
  });

  it('refuses an invalid config file with one line listing every problem, exit code 1', async () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({ ...projectConfig, regions: ['moon-1'], tableName: 'x', policies: [] }),
    );
    const result = await run(['--config', file]);
    expect(result.code).toBe(1);
    const lines = errorLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: config file .*bad\.json: is invalid \(\d+ problems\): /);
    for (const field of ['regions[0]', 'tableName', 'policies']) expect(lines[0]).toContain(field);
  });

  it('refuses a port in use with one line and exit code 1', async () => {
    const blocker = net.createServer();
    const port = await new Promise<number>((resolve) =>
      blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as net.AddressInfo).port)),
    );
    try {
      const result = await run(['--port', String(port)]);
      expect(result.code).toBe(1);
      expect(errorLines(result.stderr)).toEqual([
        `error: port ${port} (admin) is already in use on 127.0.0.1`,
      ]);
    } finally {
      blocker.close();
    }
  });

  it('starts, serves, prints status lines when piped, and stops cleanly on Ctrl-C', async () => {
    const { child, done, out } = start([
      '--port',
      '0',
      '--regions',
      'us-east-1,eu-west-1',
      '--status-ms',
      '300',
      '--reconcile-ms',
      '500',
    ]);
    const deadline = Date.now() + 60_000;
    while (!out().includes('Ctrl-C stops everything.') && Date.now() < deadline) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const edge = /us-east-1\s+edge (http:\/\/127\.0\.0\.1:\d+)/.exec(out())?.[1];
    expect(edge, out()).toBeDefined();
    const res = await fetch(`${edge}/demo/cli`, { headers: { 'x-api-key': 'cli' } });
    expect(res.status).toBe(200);
    const demo = projectConfig.policies.find((p) => p.id === 'demo');
    expect(res.headers.get('ratelimit')).toMatch(
      new RegExp(`^"demo";r=${(demo?.capacityTokens ?? 0) - 1};`),
    );
    const reported =
      /\[status\] us-east-1: allowed=1 [^\n]*\n[\s\S]*watched demo:alice: us-east-1=\d/;
    while (!reported.test(out()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/\[status\] us-east-1: allowed=1 refused=0/);
    // alice is watched by the demo config and untouched: a full bucket in both regions.
    const full = demo?.capacityTokens;
    expect(result.stdout).toContain(
      `[status] watched demo:alice: us-east-1=${full} eu-west-1=${full}\n`,
    );
    expect(result.stdout).toMatch(/\[status\] us-east-1: [^\n]* syncLag="\d+ ms"/);
    expect(result.stdout.trimEnd().endsWith('stopped')).toBe(true);
    expect(result.stdout).not.toContain('\x1b[');
    expect(result.stderr).toBe('');
  });
});
