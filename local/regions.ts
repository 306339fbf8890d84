/**
 * The AWS regions `npm start -- --regions` accepts: the commercial regions
 * (the partition CloudFront and Lambda@Edge serve), taken from the edge's
 * region map so that there is one list to keep up to date. A name that only
 * looks like a region (`xx-fake-1`) is refused with the closest real ones.
 */

import { REGION_LOCATIONS } from '../functions/edge/region-map';

/** Every commercial AWS region, sorted. */
export const AWS_COMMERCIAL_REGIONS: readonly string[] = Object.keys(REGION_LOCATIONS)
  .filter((r) => !r.startsWith('us-gov-') && !r.startsWith('cn-'))
  .sort();

/** Whether `name` is a commercial AWS region. */
export function isKnownRegion(name: string): boolean {
  return AWS_COMMERCIAL_REGIONS.includes(name);
}

/** The `count` known regions nearest to `name` by edit distance (closest first, ties sorted). */
export function closestRegions(name: string, count = 3): string[] {
  return AWS_COMMERCIAL_REGIONS.map((r) => ({ r, d: editDistance(name, r) }))
    .sort((a, b) => a.d - b.d || (a.r < b.r ? -1 : 1))
    .slice(0, count)
    .map((x) => x.r);
}

/** Levenshtein distance (insertions, deletions and substitutions of one character). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(
        Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}
