/**
 * Describes the machine a benchmark ran on, the way the report must: Node
 * version, CPU model, core count and memory. No host names, no paths.
 */

import { readFileSync } from 'node:fs';
import os from 'node:os';

/** The machine, as the report states it. */
export interface MachineInfo {
  readonly nodeVersion: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly platform: string;
}

/** The CPU model from `/proc/cpuinfo` when present, else what Node reports. */
function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    const model = line?.split(':')[1]?.trim();
    if (model) return model;
  } catch {
    // Not Linux: fall back to Node's view below.
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** Describes this machine. */
export function machineInfo(): MachineInfo {
  return {
    nodeVersion: process.version,
    cpuModel: cpuModel(),
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    platform: `${os.type()} ${os.arch()}`,
  };
}
