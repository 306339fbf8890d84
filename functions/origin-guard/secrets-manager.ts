/**
 * The accepted values of the origin header, read from Secrets Manager: the
 * version staged `AWSCURRENT` and, when there is one, `AWSPREVIOUS`. After
 * `put-secret-value`, Secrets Manager moves `AWSPREVIOUS` to the old value,
 * so the origin accepts both until CloudFront sends the new one everywhere.
 */

import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { SecretSource } from './guard';

/** Version stages whose values are accepted, in order. */
export const ACCEPTED_STAGES = ['AWSCURRENT', 'AWSPREVIOUS'] as const;

/** Options of {@link secretsManagerSource}. */
export interface SecretsManagerSourceOptions {
  readonly client: SecretsManagerClient;
  /** Name or ARN of the secret (the edge stack's `OriginSecretArn` output). */
  readonly secretId: string;
}

/** A {@link SecretSource} on Secrets Manager (needs `secretsmanager:GetSecretValue` on the secret). */
export function secretsManagerSource(options: SecretsManagerSourceOptions): SecretSource {
  return {
    async load(signal) {
      const values = await Promise.all(
        ACCEPTED_STAGES.map(async (stage) => {
          try {
            const out = await options.client.send(
              new GetSecretValueCommand({ SecretId: options.secretId, VersionStage: stage }),
              { abortSignal: signal },
            );
            return out.SecretString;
          } catch (error) {
            // A secret that was never rotated has no AWSPREVIOUS version.
            if (stage !== 'AWSCURRENT' && error instanceof ResourceNotFoundException) {
              return undefined;
            }
            throw error;
          }
        }),
      );
      return values.filter((v): v is string => typeof v === 'string' && v.length > 0);
    },
  };
}
