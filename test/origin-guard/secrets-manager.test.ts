/**
 * Reading the accepted values from Secrets Manager: both stages requested by
 * name, a secret never rotated (no AWSPREVIOUS) is fine, any other failure
 * rejects so the guard keeps what it had.
 */
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { secretsManagerSource } from '../../functions/origin-guard';

const secretId = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:origin-AbCdEf';
const sm = mockClient(SecretsManagerClient);
const notFound = () => new ResourceNotFoundException({ message: 'no such version', $metadata: {} });

beforeEach(() => sm.reset());

describe('secretsManagerSource', () => {
  it('returns the current and the previous value, current first', async () => {
    sm.on(GetSecretValueCommand, { SecretId: secretId, VersionStage: 'AWSCURRENT' }).resolves({
      SecretString: 'new',
    });
    sm.on(GetSecretValueCommand, { SecretId: secretId, VersionStage: 'AWSPREVIOUS' }).resolves({
      SecretString: 'old',
    });
    const source = secretsManagerSource({ client: new SecretsManagerClient({}), secretId });
    expect(await source.load()).toEqual(['new', 'old']);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('accepts a secret that was never rotated', async () => {
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves({ SecretString: 'only' });
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).rejects(notFound());
    const source = secretsManagerSource({ client: new SecretsManagerClient({}), secretId });
    expect(await source.load()).toEqual(['only']);
  });

  it('rejects when the current value cannot be read', async () => {
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).rejects(notFound());
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).resolves({ SecretString: 'old' });
    const source = secretsManagerSource({ client: new SecretsManagerClient({}), secretId });
    await expect(source.load()).rejects.toBeInstanceOf(ResourceNotFoundException);
  });

  it('rejects on an access error even for the previous stage', async () => {
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSCURRENT' }).resolves({ SecretString: 'new' });
    sm.on(GetSecretValueCommand, { VersionStage: 'AWSPREVIOUS' }).rejects(
      Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }),
    );
    const source = secretsManagerSource({ client: new SecretsManagerClient({}), secretId });
    await expect(source.load()).rejects.toThrow('not authorized');
  });
});
