/**
 * Which table replica an edge function talks to.
 *
 * Lambda@Edge runs in the AWS region of the regional edge cache that serves
 * the viewer (`AWS_REGION` is set even at the edge), which is usually *not*
 * one of the regions the table is replicated to. The function talks to the
 * nearest configured replica, and writes that replica's slot: a slot must
 * only ever be written through one replica, or last-writer-wins replication
 * would lose updates (docs/design.md, Why not one shared counter).
 *
 * "Nearest" is the great-circle distance between the regions' locations
 * (the metro area of each region, to a degree or so): a static table, no
 * lookups, the same answer every cold start. Where submarine cables make the
 * great circle misleading, the region is measured from where its traffic
 * lands instead ({@link NETWORK_HUBS}: Cape Town is closer to Singapore by
 * great circle, but its cables land in Europe). Ties go to the region listed
 * first in the config; an unknown or missing region gets the first
 * configured region (the primary).
 */

/** Approximate location of every AWS region: [latitude, longitude] in degrees. */
export const REGION_LOCATIONS: Readonly<Record<string, readonly [number, number]>> = {
  'us-east-1': [38.9, -77.4],
  'us-east-2': [40.0, -83.0],
  'us-west-1': [37.4, -121.9],
  'us-west-2': [45.8, -119.7],
  'us-gov-east-1': [40.0, -83.0],
  'us-gov-west-1': [45.6, -121.2],
  'ca-central-1': [45.5, -73.6],
  'ca-west-1': [51.0, -114.1],
  'mx-central-1': [20.6, -100.4],
  'sa-east-1': [-23.5, -46.6],
  'eu-west-1': [53.3, -6.3],
  'eu-west-2': [51.5, -0.1],
  'eu-west-3': [48.9, 2.4],
  'eu-central-1': [50.1, 8.7],
  'eu-central-2': [47.4, 8.5],
  'eu-north-1': [59.3, 18.1],
  'eu-south-1': [45.5, 9.2],
  'eu-south-2': [41.6, -0.9],
  'il-central-1': [32.1, 34.8],
  'me-south-1': [26.1, 50.6],
  'me-central-1': [24.5, 54.4],
  'af-south-1': [-33.9, 18.4],
  'ap-east-1': [22.3, 114.2],
  'ap-east-2': [25.0, 121.5],
  'ap-south-1': [19.1, 72.9],
  'ap-south-2': [17.4, 78.5],
  'ap-northeast-1': [35.7, 139.7],
  'ap-northeast-2': [37.6, 127.0],
  'ap-northeast-3': [34.7, 135.5],
  'ap-southeast-1': [1.35, 103.8],
  'ap-southeast-2': [-33.9, 151.2],
  'ap-southeast-3': [-6.2, 106.8],
  'ap-southeast-4': [-37.8, 145.0],
  'ap-southeast-5': [3.1, 101.7],
  'ap-southeast-6': [-36.8, 174.8],
  'ap-southeast-7': [13.8, 100.5],
  'cn-north-1': [39.9, 116.4],
  'cn-northwest-1': [38.5, 106.3],
};

/**
 * Regions whose traffic to other regions lands elsewhere first: when such a
 * region is not itself a replica, distances are measured from its hub.
 */
export const NETWORK_HUBS: Readonly<Record<string, string>> = {
  'af-south-1': 'eu-west-2',
};

const EARTH_RADIUS_KM = 6371;

/** Great-circle distance between two regions in km, or `undefined` when either is unknown. */
export function regionDistanceKm(a: string, b: string): number | undefined {
  const pa = REGION_LOCATIONS[a];
  const pb = REGION_LOCATIONS[b];
  if (pa === undefined || pb === undefined) return undefined;
  const rad = Math.PI / 180;
  const dLat = (pb[0] - pa[0]) * rad;
  const dLon = (pb[1] - pa[1]) * rad;
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(pa[0] * rad) * Math.cos(pb[0] * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * The configured replica nearest to `runningRegion`: the region itself when
 * it is configured, else the closest by distance (ties: config order), else
 * (unknown region) the first configured region.
 *
 * @param configuredRegions - the table's replica regions, primary first; at least one.
 */
export function nearestReplica(
  runningRegion: string | undefined,
  configuredRegions: readonly string[],
): string {
  const primary = configuredRegions[0];
  if (primary === undefined)
    throw new RangeError('nearestReplica needs at least one configured region');
  if (runningRegion === undefined) return primary;
  if (configuredRegions.includes(runningRegion)) return runningRegion;
  const from = NETWORK_HUBS[runningRegion] ?? runningRegion;
  let best = primary;
  let bestKm = Number.POSITIVE_INFINITY;
  for (const candidate of configuredRegions) {
    const km = regionDistanceKm(from, candidate);
    if (km !== undefined && km < bestKm) {
      best = candidate;
      bestKm = km;
    }
  }
  return best;
}

/** The whole map: every known AWS region to its nearest configured replica. */
export function replicaMap(configuredRegions: readonly string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const region of Object.keys(REGION_LOCATIONS))
    map[region] = nearestReplica(region, configuredRegions);
  return map;
}
