/**
 * docs/configuration.md stays in step with functions/config/schema.ts: every
 * field reachable from `LimiterConfig` has a row, no row names a field that
 * does not exist, and stated defaults match the schema's `@default` tags.
 * The field list is read from the TypeScript source, so a field added to the
 * schema fails this test until it is documented.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  defaultValue,
  documentedFields,
  REFERENCE_DOC,
  referenceProblems,
} from './config-reference';
import { REPO_ROOT, type SchemaField, schemaFields } from './schema-fields';

let fields: SchemaField[];
let doc: string;

beforeAll(() => {
  fields = schemaFields();
  doc = readFileSync(path.join(REPO_ROOT, REFERENCE_DOC), 'utf8');
});

describe('the schema walk', () => {
  it('reaches nested, array, union and imported types', () => {
    const paths = new Set(fields.map((f) => f.path));
    for (const p of [
      'appName',
      'origin.httpsPort',
      'strong.regions',
      'policies[].capacityTokens',
      'policies[].lease.maxShareOfLevel', // LeasePolicy, imported from the core
      'rules[].match.methods',
      'rules[].key[].jwtClaim', // a member of the KeyPart union
      'rules[].cost.bodyBytesPerToken', // a member of the CostConfig union
      'alarms.depletionRatio',
      'runtime.viewCacheMs',
    ]) {
      expect(paths, p).toContain(p);
    }
  });

  it('reads optionality and @default tags', () => {
    const field = (p: string) => fields.find((f) => f.path === p);
    expect(field('appName')).toMatchObject({ optional: false, defaultTag: undefined });
    expect(field('policies[].onStoreError')).toMatchObject({
      optional: true,
      defaultTag: "'open'",
    });
    expect(field('rules[].cost')?.defaultTag).toBe('{ fixed: 1 }');
  });
});

describe(REFERENCE_DOC, () => {
  it('documents every field of the schema, and only those, with the defaults the schema states', () => {
    const problems = referenceProblems(fields, doc);
    expect(problems, `\n${problems.join('\n')}\n`).toEqual([]);
  });
});

describe('referenceProblems', () => {
  const field = (p: string, optional: boolean, defaultTag?: string): SchemaField => ({
    path: p,
    optional,
    defaultTag,
    declaredIn: 'Fixture in functions/config/schema.ts',
  });
  const table = (...rows: string[]) =>
    [
      '## Fixture',
      '',
      '| field | type | default | example | meaning |',
      '|---|---|---|---|---|',
      ...rows,
    ].join('\n');

  it('names a missing field and the table to add it to', () => {
    const problems = referenceProblems(
      [field('a.x', false), field('a.y', true)],
      table('| `a.x` | `number` | required | `x: 1` | x |'),
    );
    expect(problems).toEqual([
      expect.stringMatching(
        /^`a\.y` \(Fixture in .*\) is not documented: add a row for it to the table under "Fixture" \(next to line 5\) in docs\/configuration\.md$/,
      ),
    ]);
  });

  it('asks for a new table when no sibling field is documented', () => {
    const problems = referenceProblems([field('b.z', false)], table());
    expect(problems[0]).toMatch(/a new table .* for the fields of `b`/);
  });

  it('names a documented field that does not exist, and a repeated row', () => {
    const problems = referenceProblems(
      [field('a.x', false)],
      table(
        '| `a.x` | `number` | required | `x: 1` | x |',
        '| `a.x` | `number` | required | `x: 1` | x again |',
        '| `a.gone` | `number` | `1` | `gone: 1` | removed |',
      ),
    );
    expect(problems).toContainEqual(
      expect.stringMatching(/^`a\.gone` .*line 7.* is not a field of the schema/),
    );
    expect(problems).toContainEqual('`a.x` is documented 2 times (lines 5, 6): keep one row');
  });

  it('checks empty cells, "required" and stated defaults', () => {
    const problems = referenceProblems(
      [
        field('a.req', false),
        field('a.opt', true, "'iam' for now"),
        field('a.n', true, '150 at the edge'),
      ],
      table(
        '| `a.req` | `number` | `1` | `req: 1` | should say required |',
        '| `a.opt` | `string` | required | | says required, no example |',
        '| `a.n` | `number` | `250` | `n: 250` | wrong default |',
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('`a.req` (docs/configuration.md line 5) is required in the schema'),
        expect.stringContaining('`a.opt` (docs/configuration.md line 6) has an empty example cell'),
        expect.stringContaining('`a.opt` (docs/configuration.md line 6) is optional in the schema'),
        expect.stringContaining("says @default 'iam'"),
        expect.stringContaining(
          'states default `250`, but Fixture in functions/config/schema.ts says @default 150',
        ),
      ]),
    );
    expect(problems).toHaveLength(5);
  });

  it('accepts a prose default in words, and still checks a literal one', () => {
    const problems = referenceProblems(
      [field('a.p', true, 'a secret the edge stack creates'), field('a.t', true, 'true for now')],
      table(
        "| `a.p` | `string` | a secret the stack makes | `p: 's'` | prose default |",
        '| `a.t` | `boolean` | on for now | `t: false` | literal default in words only |',
      ),
    );
    expect(problems).toEqual([
      expect.stringContaining(
        '`a.t` (docs/configuration.md line 6) states default no value, but Fixture in functions/config/schema.ts says @default true',
      ),
    ]);
  });

  it('accepts a field declared by two union members with one row that states both', () => {
    const problems = referenceProblems(
      [field('k.header', false), field('k.header', true, "'authorization'")],
      table(
        "| `k.header` | `string` | required in a header part; `'authorization'` in a JWT part | `{ header: 'x' }` | h |",
      ),
    );
    expect(problems).toEqual([]);
  });
});

describe('defaultValue', () => {
  it.each([
    ['150 at the edge', '150'],
    ["'eventual'", "'eventual'"],
    ['{ fixed: 1 }', '{ fixed: 1 }'],
    ['[1, [2]] and more', '[1, [2]]'],
    ['false', 'false'],
    ['true for `http` origins, false for the others', 'true'],
    ['0.1', '0.1'],
  ])('%s → %s', (tag, value) => {
    expect(defaultValue(tag)).toBe(value);
  });

  it.each([
    'none',
    'unreserved',
    'a secret the edge stack creates (48 random letters and digits)',
    'only the `*.cloudfront.net` name',
    'no record: region changes are not checked',
  ])('%s is prose, not a value', (tag) => {
    expect(defaultValue(tag)).toBeUndefined();
  });
});

describe('documentedFields', () => {
  it('reads pipes escaped inside code spans as part of the cell', () => {
    const rows = documentedFields(
      "| field | type | default | example |\n|---|---|---|---|\n| `p` | `'a' \\| 'b'` | `'a'` | `p: 'b'` |",
    );
    expect(rows).toEqual([
      expect.objectContaining({ path: 'p', type: "`'a' | 'b'`", defaultCell: "`'a'`" }),
    ]);
  });
});
