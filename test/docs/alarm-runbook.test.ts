/**
 * The alarms' runbook (docs/operations.md) follows infra/alarm-specs.ts: every
 * alarm the stacks create has a row saying what to do, no row describes an
 * alarm that does not exist, and the runbook section each alarm description
 * points at exists.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LimiterConfig } from '../../functions/config/schema';
import { edgeAlarmSpecs, regionalAlarmSpecs } from '../../infra/alarm-specs';
import { strongConfig } from '../infra/fixtures';
import { codeSpans, headings, plainText, tableRows } from './markdown';
import { REPO_ROOT } from './schema-fields';

const RUNBOOK_DOC = 'docs/operations.md';
const RUNBOOK_SECTION = 'What each alarm means and what to do';

/** Every alarm of a deployment of `config`, with its region, policy and key parts generalised. */
function alarmPatterns(config: LimiterConfig): Map<string, string> {
  const patterns = new Map<string, string>();
  const targets = { apiFunctionName: 'api', reconcilerFunctionName: 'reconciler' };
  for (const region of config.regions) {
    for (const spec of regionalAlarmSpecs(config, region, targets)) {
      let name = spec.alarmName.slice(`${config.appName}-${region}-`.length);
      for (const other of config.regions) {
        name = name.replace(new RegExp(`-(to|from)-${other}$`), '-$1-<O>');
      }
      for (const p of config.policies) {
        for (const key of p.watchKeys ?? []) {
          if (name === `depletion-${p.id}-${key}`) name = 'depletion-<policy>-<key>';
        }
      }
      patterns.set(name, spec.description);
    }
  }
  for (const spec of edgeAlarmSpecs(config, 'EDFDVBD6EXAMPLE')) {
    patterns.set(spec.alarmName.slice(`${config.appName}-`.length), spec.description);
  }
  return patterns;
}

const doc = readFileSync(path.join(REPO_ROOT, RUNBOOK_DOC), 'utf8');

describe(`${RUNBOOK_DOC}, "${RUNBOOK_SECTION}"`, () => {
  // The strong config creates every kind of alarm: replication links, depletion, strong throttles.
  const patterns = alarmPatterns(strongConfig());
  const documented = new Set(
    tableRows(doc)
      .filter((r) => plainText(r.section) === RUNBOOK_SECTION)
      .flatMap((r) => codeSpans(r.cells[0] ?? '')),
  );

  it('has a row for every alarm the stacks create', () => {
    const missing = [...patterns.keys()].filter((name) => !documented.has(name));
    expect(missing, `add these alarms to the table in ${RUNBOOK_DOC}`).toEqual([]);
  });

  it('describes no alarm that does not exist', () => {
    const extra = [...documented].filter((name) => !patterns.has(name));
    expect(extra, `these rows of ${RUNBOOK_DOC} name no alarm of infra/alarm-specs.ts`).toEqual([]);
  });

  it('is the section every alarm description points at', () => {
    const sections = new Set(headings(doc).map((h) => plainText(h.text)));
    for (const [name, description] of patterns) {
      const runbook = /Runbook: ([^,]+), "([^"]+)"/.exec(description);
      expect(runbook?.slice(1), name).toEqual([RUNBOOK_DOC, RUNBOOK_SECTION]);
      expect(sections.has(runbook?.[2] ?? ''), name).toBe(true);
    }
  });
});
