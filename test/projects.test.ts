/**
 * The test projects of vitest.config.ts: `unit` must stay the fast, pure part
 * (`npm run test:unit` while working), so a file that starts an embedded
 * DynamoDB, the emulated regions, the local runtime, a server or a bundle
 * build belongs to `integration`, `e2e` or `infra`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { INTEGRATION_FILES } from '../vitest.config';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SELF = 'test/projects.test.ts';

/** What a file in `unit` must not call. */
const NOT_UNIT = [
  'startDynalite(',
  'RegionEmulator.start(',
  'startLocal(',
  'createServer(',
  'startAdminServer(',
  'startApiServer(',
  'startEchoOrigin(',
  'startEdgeServer(',
  'buildBundles(',
  'buildLocalBundle(',
  'buildFunctions(',
];

function testFiles(): string[] {
  return readdirSync(path.join(ROOT, 'test'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.posix.join('test', f.split(path.sep).join('/')))
    .sort();
}

describe('test projects', () => {
  it('lists only integration files that exist', () => {
    for (const file of INTEGRATION_FILES)
      expect(existsSync(path.join(ROOT, file)), file).toBe(true);
  });

  it('keeps servers, emulators and bundle builds out of the unit project', () => {
    const unit = testFiles().filter(
      (f) =>
        f !== SELF &&
        !INTEGRATION_FILES.includes(f) &&
        !f.startsWith('test/e2e/') &&
        !f.startsWith('test/infra/') &&
        !f.startsWith('test/sim/'),
    );
    expect(unit.length).toBeGreaterThan(10);
    const offenders = unit.flatMap((file) => {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      return NOT_UNIT.filter((call) => text.includes(call)).map((call) => `${file}: ${call}`);
    });
    expect(offenders).toEqual([]);
  });
});
