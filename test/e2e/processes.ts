/**
 * The project's entry points as processes, for the tests that check what a
 * user sees: exit codes, stdout and stderr, and the ports a stopped runtime
 * leaves behind. Waiting is always for a condition with a deadline.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

export { waitFor } from '../helpers/wait-for';

/** How an entry point is started. */
export type Launcher =
  /** `node --import tsx FILE`: one process, as `npm start` runs it. */
  | 'node'
  /** `npm start -- ARGS` (npm, then the start script). */
  | 'npm'
  /** `tsx FILE` (the tsx CLI: a parent that relays signals to a child). */
  | 'tsx';

/** A finished process. */
export interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running process. */
export interface Started {
  readonly child: ChildProcess;
  readonly done: Promise<Run>;
  stdout(): string;
}

const TSX = path.join('node_modules', '.bin', 'tsx');

/**
 * Starts `file` with `args`. `group`: in a process group of its own, so that
 * {@link signalGroup} reaches every process of it, as Ctrl-C in a terminal does.
 */
export function startProcess(
  launcher: Launcher,
  file: string,
  args: readonly string[],
  options: { readonly group?: boolean; readonly env?: Readonly<Record<string, string>> } = {},
): Started {
  const [command, argv] =
    launcher === 'npm'
      ? ['npm', ['start', '--silent', '--', ...args]]
      : launcher === 'tsx'
        ? [TSX, [file, ...args]]
        : [process.execPath, ['--import', 'tsx', file, ...args]];
  const child = spawn(command, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0', ...options.env },
    detached: options.group === true,
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
  return { child, done, stdout: () => stdout };
}

/** Runs to the end; killed (and the test fails on its output) after `timeoutMs`. */
export async function runProcess(
  launcher: Launcher,
  file: string,
  args: readonly string[],
  options: { readonly env?: Readonly<Record<string, string>>; readonly timeoutMs?: number } = {},
): Promise<Run> {
  const { child, done } = startProcess(launcher, file, args, {
    ...(options.env === undefined ? {} : { env: options.env }),
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const result = await done;
  clearTimeout(timer);
  return result;
}

/** Sends `signal` to every process of `child`'s group (it must have been started with `group`). */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  process.kill(-(child.pid as number), signal);
}

/** Every loopback port a text mentions (`127.0.0.1:PORT`). */
export function portsIn(text: string): number[] {
  return [...new Set([...text.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1])))];
}

/** The ports of `ports` that cannot be bound on loopback right now. */
export async function portsInUse(ports: readonly number[]): Promise<number[]> {
  const busy: number[] = [];
  for (const port of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (!free) busy.push(port);
  }
  return busy;
}

/** Non-empty lines. */
export const linesOf = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');
