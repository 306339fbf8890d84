/** Which edge bundles the local runtime runs: the ones a deployment of the same config would. */
import { describe, expect, it } from 'vitest';
import { edgeFunctionRoles } from '../../infra/defaults';
import { config as projectConfig } from '../../limiter.config';
import { viewerResponseDeployed } from '../../local/functions';

describe('viewerResponseDeployed', () => {
  it('runs no viewer-response function by default, and one when the config asks for it', () => {
    expect(projectConfig.clientHeaders).toBeUndefined();
    expect(viewerResponseDeployed(projectConfig)).toBe(false);
    expect(viewerResponseDeployed({ ...projectConfig, clientHeaders: 'viewer-response' })).toBe(
      true,
    );
    expect(viewerResponseDeployed({ ...projectConfig, clientHeaders: 'none' })).toBe(false);
  });

  it('agrees with the functions the stacks deploy', () => {
    for (const clientHeaders of [undefined, 'none', 'viewer-response'] as const) {
      const config = { ...projectConfig, ...(clientHeaders ? { clientHeaders } : {}) };
      expect(viewerResponseDeployed(config), String(clientHeaders)).toBe(
        edgeFunctionRoles(config).includes('viewer-response'),
      );
    }
  });
});
