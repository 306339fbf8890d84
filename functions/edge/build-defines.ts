/**
 * The build-time switch that points an edge bundle at local DynamoDB
 * endpoints, for the local runtime and the end-to-end tests only.
 *
 * Why a define and not an environment variable: Lambda@Edge has none, so the
 * deployed bundle must not depend on one; and in a bundle built *without*
 * this define the global is simply absent (nothing at run time defines it),
 * so a deployed function cannot be redirected by its environment.
 *
 * Usage (esbuild): spread {@link storeEndpointsDefine} into `define`, next to
 * the config define (`__LIMITER_EDGE_CONFIG__`):
 *
 * ```ts
 * define: { ...esbuildOptions(o).define, ...storeEndpointsDefine({ 'eu-west-1': 'http://127.0.0.1:8011' }) }
 * ```
 *
 * Keys are *replica* regions (the configured table regions); a replica with
 * no entry uses the real regional DynamoDB endpoint.
 */

/** Replica region → endpoint URL. */
export type StoreEndpoints = Readonly<Record<string, string>>;

/** Name of the global the edge handler reads. */
export const STORE_ENDPOINTS_DEFINE = '__LIMITER_STORE_ENDPOINTS__';

/** Credentials sent to overridden endpoints (embedded DynamoDB checks none). */
export const LOCAL_STORE_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/** An endpoint override is not a loopback HTTP(S) URL. */
export class InvalidStoreEndpointError extends Error {
  override readonly name = 'InvalidStoreEndpointError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The esbuild `define` entry for endpoint overrides.
 *
 * @throws {@link InvalidStoreEndpointError} unless every endpoint is an
 * `http(s)://` URL on loopback: the override exists for local stores only.
 */
export function storeEndpointsDefine(endpoints: StoreEndpoints): Record<string, string> {
  for (const [region, endpoint] of Object.entries(endpoints)) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch (cause) {
      throw new InvalidStoreEndpointError(`endpoint of ${region} is not a URL: ${endpoint}`, {
        cause,
      });
    }
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    if (!/^https?:$/.test(url.protocol) || !loopback) {
      throw new InvalidStoreEndpointError(
        `endpoint of ${region} must be http(s) on loopback: ${endpoint}`,
      );
    }
  }
  return { [STORE_ENDPOINTS_DEFINE]: JSON.stringify(endpoints) };
}
