import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../functions/config/schema';
import { config as projectConfig } from '../../limiter.config';
import {
  ConfigFileError,
  checkConfig,
  configErrorText,
  configProblems,
  loadConfigFile,
} from '../../local/config-file';

const dir = mkdtempSync(path.join(tmpdir(), 'limiter-config-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const errorOf = (fn: () => unknown): ConfigFileError => {
  try {
    fn();
  } catch (e) {
    return e as ConfigFileError;
  }
  throw new Error('expected a ConfigFileError');
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
    const typed = file('typed.ts', `export const config: { appName: string } = { appName: 'T' };`);
    expect((await loadConfigFile(typed)).appName).toBe('T');
  });

  it.each([
    ['missing.json', undefined, /cannot be read \(ENOENT\)/],
    ['bad.json', '{ nope', /is not valid JSON/],
    ['array.json', '[]', /does not export a config object/],
    ['c.yaml', 'a: 1', /must end in \.json/],
    ['missing.ts', undefined, /cannot be read \(ENOENT\)/],
    ['throws.mjs', 'throw new Error("kaboom")', /cannot be loaded \(kaboom\)/],
  ])('refuses %s with a clear reason on one line', async (name, text, message) => {
    const p = text === undefined ? path.join(dir, name) : file(name, text);
    const error = await loadConfigFile(p).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('names the file, line and column of a syntax error', async () => {
    const ts = file(
      'syntax.ts',
      'export const config = {\n  regions: ["us-east-1"\n  tableName: 1,\n};\n',
    );
    const error = (await loadConfigFile(ts).catch((e: unknown) => e)) as ConfigFileError;
    expect(error).toBeInstanceOf(ConfigFileError);
    expect(error.message).toBe(
      `config file ${ts}: has a syntax error at ${ts}:3:3: Expected "]" but found "tableName"`,
    );
    const mjs = file('syntax.mjs', 'export const config = {;\n');
    const jsError = (await loadConfigFile(mjs).catch((e: unknown) => e)) as ConfigFileError;
    expect(jsError.message).toMatch(
      new RegExp(`syntax error at ${mjs.replace(/[.]/g, '\\.')}:1:24: `),
    );
  });

  it('lists every validation problem, one per line, as every entry point prints it', () => {
    const bad = { ...projectConfig, regions: ['moon-base-1'], policies: [] };
    const error = errorOf(() => checkConfig(bad, 'bad.json'));
    expect(error).toBeInstanceOf(ConfigFileError);
    expect(error.problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['regions[0]', 'policies']),
    );
    const lines = configErrorText(error).trimEnd().split('\n');
    expect(lines[0]).toBe(
      `error: config file bad.json is invalid (${error.problems.length} problems):`,
    );
    expect(lines.slice(1)).toEqual(error.problems.map((p) => `  - ${p.path}: ${p.message}`));
  });

  it('lists the problems of a config without policies and rules instead of failing on them', () => {
    const { policies: _p, rules: _r, ...rest } = projectConfig;
    const error = errorOf(() => checkConfig(rest as typeof projectConfig, 'no-lists.json'));
    expect(error.problems).toEqual([
      { path: 'policies', message: 'must be an array' },
      { path: 'rules', message: 'must be an array' },
      { path: 'policies', message: 'must define at least one policy' },
    ]);
  });

  it('reports parts of the wrong kind at their path, and still validates the rest', () => {
    const base = structuredClone(projectConfig) as unknown as Record<string, unknown>;
    const policies = base.policies as Record<string, unknown>[];
    const rules = base.rules as Record<string, unknown>[];
    const malformed = {
      ...base,
      tableName: 'x',
      policies: [null, { ...policies[0], capacityTokens: { many: true }, watchKeys: 'alice' }],
      rules: [{ ...rules[0], key: [true], cost: 'cheap' }, 'rule'],
      notifications: { emails: 'oncall@example.com' },
    };
    const problems = configProblems(malformed);
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: 'policies[0]', message: 'must be an object (got null)' },
        { path: 'policies[1].capacityTokens', message: 'must be a number (got an object)' },
        { path: 'policies[1].watchKeys', message: 'must be a list (got "alice")' },
        { path: 'rules[0].key[0]', message: 'must be an object (got true)' },
        { path: 'rules[0].cost', message: 'must be an object (got "cheap")' },
        { path: 'rules[1]', message: 'must be an object (got "rule")' },
        { path: 'notifications.emails', message: 'must be a list (got "oncall@example.com")' },
        expect.objectContaining({ path: 'tableName' }),
      ]),
    );
    // One answer per mistake: nothing validateConfig says again about a part already reported.
    expect(problems.filter((p) => p.path.startsWith('policies[0]'))).toHaveLength(1);
    expect(problems.filter((p) => p.path === 'policies[1]')).toEqual([]);
  });

  it('answers any JSON value in any part with a list of problems, never an exception', () => {
    const keys = ['regions', 'origin', 'policies', 'rules', 'strong', 'notifications', 'alarms'];
    const policyFields = ['capacityTokens', 'lease', 'allowKeys', 'watchKeys', 'id', 'localShare'];
    const ruleFields = ['match', 'key', 'cost', 'policy', 'id'];
    fc.assert(
      fc.property(
        fc.constantFrom(...keys),
        fc.constantFrom(...policyFields),
        fc.constantFrom(...ruleFields),
        fc.array(fc.jsonValue(), { minLength: 3, maxLength: 3 }),
        (key, policyField, ruleField, [value, policyValue, ruleValue]) => {
          const config = structuredClone(projectConfig) as unknown as Record<string, unknown>;
          const policies = config.policies as Record<string, unknown>[];
          const rules = config.rules as Record<string, unknown>[];
          (policies[0] as Record<string, unknown>)[policyField] = policyValue;
          (rules[0] as Record<string, unknown>)[ruleField] = ruleValue;
          config[key] = value;
          const problems = configProblems(config);
          for (const p of problems) {
            expect(p.path).not.toBe('');
            // The shape check leaves nothing validateConfig cannot read.
            expect(p.message).not.toMatch(/^cannot be validated/);
          }
        },
      ),
      { numRuns: 500 },
    );
    for (const value of [null, 1, 'config', []]) {
      expect(configProblems(value)).toEqual([
        { path: '(config)', message: expect.stringMatching(/^must be an object/) },
      ]);
    }
  });

  it('accepts the project config unchanged, as validateConfig does', () => {
    expect(validateConfig(projectConfig)).toEqual([]);
    expect(checkConfig(projectConfig, 'limiter.config.ts')).toBe(projectConfig);
  });
});
