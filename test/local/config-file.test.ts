import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { config as projectConfig } from '../../limiter.config';
import { ConfigFileError, checkConfig, loadConfigFile } from '../../local/config-file';

const dir = mkdtempSync(path.join(tmpdir(), 'limiter-config-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('config files', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a JSON config and a module exporting `config` or a default', async () => {
    const json = file('c.json', JSON.stringify(projectConfig));
    expect((await loadConfigFile(json)).regions).toEqual(projectConfig.regions);
    const named = file('named.mjs', `export const config = ${JSON.stringify(projectConfig)};`);
    expect((await loadConfigFile(named)).tableName).toBe(projectConfig.tableName);
    const byDefault = file('default.mjs', `export default ${JSON.stringify(projectConfig)};`);
    expect((await loadConfigFile(byDefault)).appName).toBe(projectConfig.appName);
  });

  it.each([
    ['missing.json', undefined, /cannot be read \(ENOENT\)/],
    ['bad.json', '{ nope', /is not valid JSON/],
    ['array.json', '[]', /does not export a config object/],
    ['c.yaml', 'a: 1', /must end in \.json/],
    ['missing.ts', undefined, /cannot be loaded \(not found\)/],
    ['throws.mjs', 'throw new Error("kaboom")', /cannot be loaded \(kaboom\)/],
  ])('refuses %s with a clear reason', async (name, text, message) => {
    const p = text === undefined ? path.join(dir, name) : file(name, text);
    const error = await loadConfigFile(p).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('lists every validation problem on one line', () => {
    const bad = { ...projectConfig, regions: ['moon-base-1'], policies: [] };
    const error = (() => {
      try {
        checkConfig(bad, 'bad.json');
      } catch (e) {
        return e as ConfigFileError;
      }
    })();
    expect(error).toBeInstanceOf(ConfigFileError);
    expect(error?.problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['regions[0]', 'policies']),
    );
    expect(error?.message).toMatch(/regions\[0\]: .*; .*policies/);
    expect(error?.message).not.toContain('\n');
  });

  it('accepts the project config unchanged', () => {
    expect(checkConfig(projectConfig, 'limiter.config.ts')).toBe(projectConfig);
  });
});
