/**
 * One simulator run as the CLI performs it: pick scenarios, apply overrides,
 * run each, write its chart. Separate from main.ts so tests can call it with
 * a temporary output folder.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderChart } from './chart';
import type { CliOptions } from './cli';
import { runScenario } from './engine';
import { SCENARIOS, withOverrides } from './scenarios';
import type { StrategyResult } from './types';

/** What a run produced. */
export interface SimulationOutput {
  readonly results: readonly StrategyResult[];
  /** Paths of the charts written. */
  readonly charts: readonly string[];
}

/** Runs the selected scenarios and writes their charts (when asked). */
export async function simulate(options: CliOptions): Promise<SimulationOutput> {
  const selected = SCENARIOS.filter(
    (s) => options.scenario === undefined || s.name === options.scenario,
  );
  const overrides = {
    ...(options.lagMs === undefined ? {} : { lagMs: options.lagMs }),
    ...(options.regions === undefined ? {} : { regions: options.regions }),
  };
  const results: StrategyResult[] = [];
  const charts: string[] = [];
  if (options.charts) mkdirSync(options.outDir, { recursive: true });
  for (const base of selected) {
    const spec = withOverrides(base, overrides);
    const run = await runScenario(spec, { seed: options.seed });
    results.push(...run.results);
    for (let extra = 1; extra < options.seeds; extra++) {
      results.push(...(await runScenario(spec, { seed: options.seed + extra })).results);
    }
    if (options.charts) {
      const path = join(options.outDir, `${spec.name}.svg`);
      const subtitle = `${spec.description}; seed ${options.seed}`;
      const windows = (spec.partitions ?? []).map((p) => ({
        fromMs: p.startMs,
        toMs: p.endMs,
        label: `partition: ${p.isolated.join(', ')} cut off`,
      }));
      writeFileSync(path, renderChart(spec.name, subtitle, run.series, run.results, { windows }));
      charts.push(path);
    }
  }
  return { results, charts };
}
