/**
 * The config fields, read from the TypeScript source of
 * functions/config/schema.ts with the compiler API: every property of
 * `LimiterConfig` and of every type it reaches (named interfaces and type
 * aliases, inline object types, union members, array elements), by the path
 * a config author writes (`policies[].lease.ttlMs`).
 *
 * Why from the source and not a hand-kept list: a field someone adds to the
 * schema later shows up here by itself, so the reference test fails until the
 * field is documented.
 */
import path from 'node:path';
import ts from 'typescript';

/** One declaration of a config field. */
export interface SchemaField {
  /** Path from the config root: `appName`, `origin.protocol`, `rules[].key[].header`. */
  readonly path: string;
  /** Whether the property is optional (`?`). */
  readonly optional: boolean;
  /** The text of its `@default` TSDoc tag, when it has one. */
  readonly defaultTag: string | undefined;
  /** The type that declares it (`PolicyConfig`, `LimiterConfig.origin`) and where. */
  readonly declaredIn: string;
}

/** Root of the repository (two levels above this file). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');

/** The schema file, relative to the repository root. */
export const SCHEMA_FILE = 'functions/config/schema.ts';

function compilerOptions(): ts.CompilerOptions {
  const configPath = path.join(REPO_ROOT, 'tsconfig.json');
  const read = ts.readConfigFile(configPath, ts.sys.readFile);
  if (read.error !== undefined) {
    throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  }
  return ts.parseJsonConfigFileContent(read.config, ts.sys, REPO_ROOT).options;
}

/**
 * Every field declaration reachable from `rootType` (default `LimiterConfig`)
 * in the schema file. A path declared by several union members (a `header`
 * of a header part and of a JWT part) appears once per declaration.
 */
export function schemaFields(rootType = 'LimiterConfig'): SchemaField[] {
  const file = path.join(REPO_ROOT, SCHEMA_FILE);
  const program = ts.createProgram([file], { ...compilerOptions(), noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  if (source === undefined) throw new Error(`cannot read ${SCHEMA_FILE}`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  const root =
    moduleSymbol && checker.getExportsOfModule(moduleSymbol).find((s) => s.name === rootType);
  if (root === undefined) throw new Error(`${SCHEMA_FILE} exports no ${rootType}`);

  const fields: SchemaField[] = [];
  const visiting = new Set<ts.Type>();

  const ownerName = (decl: ts.Declaration, parentPath: string): string => {
    let node: ts.Node | undefined = decl.parent;
    while (node !== undefined) {
      if (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) {
        const rel = path.relative(REPO_ROOT, node.getSourceFile().fileName);
        const inline =
          ts.isTypeLiteralNode(decl.parent) && ts.isPropertySignature(decl.parent.parent);
        const name = inline ? `${node.name.text} (inline type of ${parentPath})` : node.name.text;
        return `${name} in ${rel}`;
      }
      node = node.parent;
    }
    return 'an unnamed type';
  };

  /** The object types a type stands for: itself, or the object members of a union. */
  const objectMembers = (type: ts.Type): ts.Type[] => {
    const t = checker.getNonNullableType(type);
    const members = t.isUnion() ? t.types : [t];
    return members.filter(
      (m) =>
        (m.flags & ts.TypeFlags.Object) !== 0 &&
        checker.getPropertiesOfType(m).length > 0 &&
        checker.getSignaturesOfType(m, ts.SignatureKind.Call).length === 0,
    );
  };

  const walk = (type: ts.Type, prefix: string): void => {
    if (visiting.has(type)) return;
    visiting.add(type);
    for (const member of objectMembers(type)) {
      if (checker.isArrayType(member)) continue;
      for (const prop of checker.getPropertiesOfType(member)) {
        const decl = prop.valueDeclaration ?? prop.declarations?.[0];
        if (decl === undefined) continue;
        const fieldPath = prefix === '' ? prop.name : `${prefix}.${prop.name}`;
        const tag = prop.getJsDocTags(checker).find((t) => t.name === 'default');
        fields.push({
          path: fieldPath,
          optional: (prop.flags & ts.SymbolFlags.Optional) !== 0,
          defaultTag: tag === undefined ? undefined : ts.displayPartsToString(tag.text).trim(),
          declaredIn: ownerName(decl, prefix === '' ? rootType : prefix),
        });
        const propType = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(prop, decl));
        if (checker.isArrayType(propType)) {
          const element = checker.getTypeArguments(propType as ts.TypeReference)[0];
          if (element !== undefined) walk(element, `${fieldPath}[]`);
        } else {
          walk(propType, fieldPath);
        }
      }
    }
    visiting.delete(type);
  };

  walk(checker.getDeclaredTypeOfSymbol(root), '');
  return fields;
}
