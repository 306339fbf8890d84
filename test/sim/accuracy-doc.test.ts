/**
 * docs/accuracy.md quotes the simulator: the tables between its markers must
 * be exactly what the simulator renders now (it is deterministic), so a
 * change to the core, the limiter or a scenario that moves a figure fails
 * here until `npm run simulate -- --doc` is run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/build-functions';
import { ACCURACY_DOC, accuracyPartOf, accuracySection } from '../../sim/accuracy-doc';

describe('docs/accuracy.md', () => {
  it('holds exactly the tables the simulator renders now', async () => {
    const doc = readFileSync(join(REPO_ROOT, ACCURACY_DOC), 'utf8');
    const fresh = await accuracySection();
    expect(
      accuracyPartOf(doc).trimEnd() === fresh.trimEnd(),
      'docs/accuracy.md is stale: run `npm run simulate -- --doc` and commit the result',
    ).toBe(true);
  }, 120_000);
});
