/**
 * The runbooks (docs/runbooks.md) follow the alarms the app creates: every
 * alarm's description links to a section that exists and names the alarm,
 * every alarm section names only alarms that link to it, and no alarm
 * section is left without an alarm. A page must never point at a missing
 * runbook, and a runbook must not outlive its alarm.
 *
 * The alarms come from the built app (regional, edge and edge-watch stacks)
 * of the shipped config and of one with a strong table and the RateLimit
 * headers of admitted responses, which between them create every kind. A section names its alarms in its first paragraph, as
 * code spans starting with `<appName>-`, with placeholders for the parts
 * that vary: `<R>`, `<O>` and `<region>` stand for a region, any other
 * `<...>` and `…` for the rest of a name.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LimiterConfig } from '../../functions/config/schema';
import { type AlarmSpec, RUNBOOK_FILE } from '../../infra/alarm-specs';
import { buildLimiterApp } from '../../infra/limiter-app';
import { baseConfig, strongConfig } from '../infra/fixtures';
import { codeSpans, firstParagraph, headings, plainText, sections } from './markdown';
import { REPO_ROOT } from './schema-fields';

/** The h2 section whose subsections are rollback paths, not alarms. */
const ROLLBACK_SECTION = 'Rollback paths';
const REGION = '[a-z]{2}(?:-gov)?-[a-z]+-\\d';

/** Every alarm the app builds from `config`. */
function appAlarms(config: LimiterConfig): AlarmSpec[] {
  const built = buildLimiterApp(config, { nag: false });
  return [
    ...[...built.regional.values()].flatMap((s) => s.alarms.specs),
    ...built.edge.alarms.specs,
    ...[...built.edgeWatch.values()].flatMap((s) => s.alarms.specs),
  ];
}

/** The anchor an alarm's description links to, or undefined when it links to none. */
function runbookAnchor(spec: AlarmSpec): string | undefined {
  return new RegExp(`Runbook: ${RUNBOOK_FILE}#([a-z0-9_-]+)$`).exec(spec.description)?.[1];
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The alarm names a documented name such as `<appName>-<R>-sync-lag-to-<O>` stands for. */
function namePattern(documented: string, appName: string): RegExp {
  const source = documented
    .split(/(<[^>]+>|…)/)
    .map((part) => {
      if (part === '<appName>') return escapeRegExp(appName);
      if (['<R>', '<O>', '<region>'].includes(part)) return REGION;
      if (part === '…' || /^<[^>]+>$/.test(part)) return '\\S+';
      return escapeRegExp(part);
    })
    .join('');
  return new RegExp(`^${source}$`);
}

const doc = readFileSync(join(REPO_ROOT, RUNBOOK_FILE), 'utf8');
// The viewer-response function (and its alarms) only with clientHeaders: 'viewer-response'.
const configs = [baseConfig(), { ...strongConfig(), clientHeaders: 'viewer-response' as const }];
const alarms = configs.flatMap((config) =>
  appAlarms(config).map((spec) => ({ spec, appName: config.appName, anchor: runbookAnchor(spec) })),
);
/** The alarm sections: every h3 but the rollback paths, with the names each gives. */
const alarmSections = sections(doc)
  .filter((s) => s.heading.level === 3 && plainText(s.parent) !== ROLLBACK_SECTION)
  .map((s) => ({
    anchor: s.heading.anchor,
    names: codeSpans(firstParagraph(s)).filter((c) => c.startsWith('<appName>-')),
  }));

describe(RUNBOOK_FILE, () => {
  it('has the section every alarm description links to, and the rollback paths', () => {
    const anchors = new Set(headings(doc).map((h) => h.anchor));
    const broken = alarms
      .filter((a) => a.anchor === undefined || !anchors.has(a.anchor))
      .map((a) => `${a.spec.alarmName} → ${a.anchor ?? 'no runbook link'}`);
    expect(broken).toEqual([]);
    expect(new Set(alarms.map((a) => a.anchor)).size).toBeGreaterThan(10);
    expect(anchors).toContain('a-bad-edge-bundle');
    expect(anchors).toContain('a-failed-replica-addition');
    expect(anchors).toContain('update_rollback_failed');
  });

  it('names every alarm in the first paragraph of the section it links to', () => {
    const unnamed = alarms
      .filter(({ spec, appName, anchor }) => {
        const section = alarmSections.find((s) => s.anchor === anchor);
        return !section?.names.some((n) => namePattern(n, appName).test(spec.alarmName));
      })
      .map((a) => `${a.spec.alarmName} (section #${a.anchor})`);
    expect(unnamed, 'add the name to the section').toEqual([]);
  });

  it('names no alarm that does not link to the section naming it', () => {
    const stale = alarmSections.flatMap((s) =>
      s.names
        .filter(
          (n) =>
            !alarms.some(
              (a) => a.anchor === s.anchor && namePattern(n, a.appName).test(a.spec.alarmName),
            ),
        )
        .map((n) => `#${s.anchor}: ${n}`),
    );
    expect(stale, 'no alarm of the app has these names').toEqual([]);
  });

  it('has no alarm section that no alarm links to', () => {
    const linked = new Set(alarms.map((a) => a.anchor));
    const orphans = alarmSections.filter((s) => !linked.has(s.anchor)).map((s) => s.anchor);
    expect(orphans, 'these sections describe no alarm of the app').toEqual([]);
  });
});

describe('namePattern', () => {
  it.each([
    ['<appName>-<R>-sync-lag-to-<O>', 'App-eu-west-1-sync-lag-to-us-east-1', true],
    ['<appName>-<R>-sync-lag-to-<O>', 'App-eu-west-1-sync-lag-from-us-east-1', false],
    [
      '<appName>-<R>-depletion-<policy>-<key slug>-<hash>',
      'App-us-east-1-depletion-cap-all-5ef5ef03',
      true,
    ],
    ['<appName>-edge-5xx-error-rate', 'Other-edge-5xx-error-rate', false],
    ['<appName>-<R>-edge-…', 'App-us-east-1-edge-viewer-request-errors', true],
    ['<appName>-<R>-fallbacks', 'App-not a region-fallbacks', false],
  ])('%s matches %s: %s', (documented, name, matches) => {
    expect(namePattern(documented, 'App').test(name)).toBe(matches);
  });
});

describe('sections', () => {
  it('gives each heading its parent and its lines, and a first paragraph', () => {
    const md = '# A\n## B\n\n`x` one\ntwo\n\nthree\n```\n### not a heading\n```\n### C\nc\n## D\n';
    const found = sections(md).map((s) => ({
      text: s.heading.text,
      parent: s.parent,
      first: firstParagraph(s),
    }));
    expect(found).toEqual([
      { text: 'A', parent: '', first: '' },
      { text: 'B', parent: 'A', first: '`x` one\ntwo' },
      { text: 'C', parent: 'B', first: 'c' },
      { text: 'D', parent: 'A', first: '' },
    ]);
  });
});
