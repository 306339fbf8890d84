/**
 * `npm run import-mapping [-- cdk.out]`: the resource mapping `cdk import`
 * needs to adopt the retained bucket tables after `cdk destroy --all`.
 *
 * Why: the tables are retained (deletion protection, `DeletionPolicy:
 * Retain`) under fixed names, so a fresh deploy cannot create them again
 * ("already exists"); `cdk import` brings the existing table under the new
 * table stack instead. It asks for each table's name, or takes this mapping
 * (logical id → `TableName`), read from the synthesized templates so the
 * logical ids are exactly those the stack uses. See docs/destroy-and-adopt.md.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stackTemplates } from './lint-templates';

/** Resource types the mapping covers: the retained, fixed-name stateful resources. */
export const ADOPTABLE_TYPES: Readonly<Record<string, string>> = {
  'AWS::DynamoDB::GlobalTable': 'TableName',
};

/** A template as far as the mapping reads it. */
export interface TemplateLike {
  readonly Resources?: Record<
    string,
    {
      readonly Type: string;
      readonly Properties?: Record<string, unknown>;
      readonly DeletionPolicy?: string;
    }
  >;
}

/** The `cdk import` resource mapping of one template: logical id → identifier. */
export function importMapping(template: TemplateLike): Record<string, Record<string, string>> {
  const mapping: Record<string, Record<string, string>> = {};
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    const key = ADOPTABLE_TYPES[resource.Type];
    if (key === undefined) continue;
    const value = resource.Properties?.[key];
    if (typeof value !== 'string') {
      throw new Error(`${logicalId} (${resource.Type}) has no literal ${key} to import by`);
    }
    if (resource.DeletionPolicy !== 'Retain') {
      throw new Error(
        `${logicalId} is not retained: CloudFormation imports only resources with a DeletionPolicy`,
      );
    }
    mapping[logicalId] = { [key]: value };
  }
  return mapping;
}

function main(argv: readonly string[]): void {
  const dir = resolve(argv[0] ?? 'cdk.out');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  for (const t of stackTemplates(dir, manifest)) {
    const mapping = importMapping(JSON.parse(readFileSync(t.template, 'utf8')) as TemplateLike);
    if (Object.keys(mapping).length === 0) continue;
    const file = join(dir, `${t.stack}.import-mapping.json`);
    writeFileSync(file, `${JSON.stringify(mapping, null, 2)}\n`);
    console.log(
      `${t.stack} (${t.region}): npx cdk import ${t.stack} --resource-mapping ${file}\n  ${JSON.stringify(mapping)}`,
    );
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
