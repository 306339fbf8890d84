/**
 * Every alarm's description links to a section of docs/runbooks.md that
 * exists: a page must never point at a missing runbook.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUNBOOK_FILE } from '../../infra/alarm-specs';
import { buildLimiterApp } from '../../infra/limiter-app';
import { REPO_ROOT } from '../../scripts/build-functions';
import { baseConfig, strongConfig } from './fixtures';

/** GitHub's anchor of a heading: lower case, punctuation but `_` and `-` dropped, spaces to dashes. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

describe('runbooks', () => {
  it('have a section for the runbook link of every alarm of the app', () => {
    const text = readFileSync(join(REPO_ROOT, RUNBOOK_FILE), 'utf8');
    const anchors = new Set(
      text
        .split('\n')
        .filter((l) => /^#{1,6} /.test(l))
        .map((l) => anchorOf(l.replace(/^#+ /, ''))),
    );
    const linked = new Set<string>();
    for (const config of [baseConfig(), strongConfig()]) {
      const built = buildLimiterApp(config, { nag: false });
      const specs = [
        ...[...built.regional.values()].flatMap((s) => s.alarms.specs),
        ...built.edge.alarms.specs,
        ...[...built.edgeWatch.values()].flatMap((s) => s.alarms.specs),
      ];
      for (const spec of specs) {
        const match = new RegExp(`Runbook: ${RUNBOOK_FILE}#([a-z0-9-]+)$`).exec(spec.description);
        expect(match, spec.alarmName).not.toBeNull();
        linked.add(match?.[1] ?? '');
      }
    }
    expect(linked.size).toBeGreaterThan(10);
    for (const anchor of linked) expect(anchors, anchor).toContain(anchor);
    expect(anchors).toContain('a-bad-edge-bundle');
    expect(anchors).toContain('update_rollback_failed');
  });
});
