/**
 * docs/network-model.md quotes the network model: the part between its
 * markers must be exactly what the model renders now, so a change to the
 * measurements, the fit or an assumption fails here until
 * `npx tsx sim/network/doc.ts` is run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/build-functions';
import { NETWORK_MODEL_DOC, networkModelPartOf, networkModelSection } from '../../sim/network/doc';

describe('docs/network-model.md', () => {
  it('holds exactly the tables the network model renders now', () => {
    const doc = readFileSync(join(REPO_ROOT, NETWORK_MODEL_DOC), 'utf8');
    expect(
      networkModelPartOf(doc).trimEnd() === networkModelSection().trimEnd(),
      'docs/network-model.md is stale: run `npx tsx sim/network/doc.ts` and commit the result',
    ).toBe(true);
  });
});
