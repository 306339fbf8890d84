/**
 * Compares the configuration reference (docs/configuration.md) with the
 * fields of the schema ({@link schemaFields}). Pure: it takes both as data
 * and returns the problems, each naming the field and saying what to change
 * and where, so one failing test lists everything at once.
 *
 * What the reference must hold, per field: one table row whose first cell is
 * the field's path as a code span, with non-empty `type`, `default` and
 * `example` cells. The default cell starts with `required` exactly for
 * fields that are not optional, and contains the value of the field's
 * `@default` tag as a code span when the schema has one. A tag that states
 * no value but says what happens in words (`none`, `a distribution is
 * created`) is prose: the cell says it in its own words, unchecked.
 */
import { codeSpans, tableRows } from './markdown';
import type { SchemaField } from './schema-fields';

/** The reference document, relative to the repository root. */
export const REFERENCE_DOC = 'docs/configuration.md';

/** A documented field: one row of a reference table. */
export interface DocumentedField {
  readonly path: string;
  readonly type: string;
  readonly defaultCell: string;
  readonly example: string;
  readonly line: number;
  readonly section: string;
}

/** Every field row of the reference: rows of tables with `field`, `type`, `default` and `example` columns. */
export function documentedFields(doc: string): DocumentedField[] {
  const out: DocumentedField[] = [];
  for (const row of tableRows(doc)) {
    const col = (name: string) => row.header.findIndex((h) => h.toLowerCase() === name);
    const [field, type, dflt, example] = ['field', 'type', 'default', 'example'].map(col);
    if ([field, type, dflt, example].some((i) => i === undefined || i < 0)) continue;
    const spans = codeSpans(row.cells[field as number] ?? '');
    out.push({
      path: spans.length === 1 ? (spans[0] as string) : (row.cells[field as number] ?? ''),
      type: row.cells[type as number] ?? '',
      defaultCell: row.cells[dflt as number] ?? '',
      example: row.cells[example as number] ?? '',
      line: row.line,
      section: row.section,
    });
  }
  return out;
}

/**
 * The value of a `@default` tag, without any trailing words:
 * `150 at the edge` → `150`, `{ fixed: 1 }` → `{ fixed: 1 }`, `'iam'` → `'iam'`;
 * `undefined` when the tag is prose rather than a value (`none`,
 * `a secret the edge stack creates`).
 */
export function defaultValue(tag: string): string | undefined {
  const text = tag.trim();
  const open = text[0];
  if (open === '{' || open === '[') {
    const close = open === '{' ? '}' : ']';
    let depth = 0;
    for (let i = 0; i < text.length; i++) {
      if (text[i] === open) depth += 1;
      if (text[i] === close) depth -= 1;
      if (depth === 0) return text.slice(0, i + 1);
    }
    return text;
  }
  if (open === "'" || open === '"') {
    const end = text.indexOf(open, 1);
    return end < 0 ? text : text.slice(0, end + 1);
  }
  const word = (text.split(/[\s,:;]/)[0] as string).replace(/\.$/, '');
  return /^(-?\d[\d_.]*|true|false|null)$/.test(word) ? word : undefined;
}

const normalise = (code: string) => code.replace(/\s+/g, ' ').trim();

/** The parent path of a field: `policies[].lease` for `policies[].lease.ttlMs`, '' at the top. */
export function parentPath(path: string): string {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? '' : path.slice(0, dot);
}

/**
 * Fields documented once for two places: a rule's `limits[]` entries have the
 * fields a single-limit rule writes on itself (`policy`, `key`, `cost`,
 * `onMissingKey`), so the Rules table describes both and
 * `rules[].limits[].key[].header` is checked against the row of
 * `rules[].key[].header`.
 */
export const SHARED_FIELD_PREFIXES: readonly (readonly [from: string, to: string])[] = [
  ['rules[].limits[].', 'rules[].'],
];

function documentedPathOf(path: string): string {
  for (const [from, to] of SHARED_FIELD_PREFIXES) {
    if (path.startsWith(from)) return to + path.slice(from.length);
  }
  return path;
}

/** Every difference between the schema's fields and the reference; empty when in step. */
export function referenceProblems(fields: readonly SchemaField[], doc: string): string[] {
  const problems: string[] = [];
  const rows = documentedFields(doc);
  const byPath = new Map<string, DocumentedField[]>();
  for (const row of rows) byPath.set(row.path, [...(byPath.get(row.path) ?? []), row]);
  const declarations = new Map<string, SchemaField[]>();
  for (const f of fields) {
    const path = documentedPathOf(f.path);
    declarations.set(path, [...(declarations.get(path) ?? []), f]);
  }

  for (const [path, decls] of declarations) {
    const documented = byPath.get(path);
    if (documented === undefined) {
      const sibling = rows.find((r) => parentPath(r.path) === parentPath(path));
      const where =
        sibling === undefined
          ? `a new table (columns field | type | default | example | meaning) for the fields of \`${parentPath(path)}\``
          : `the table under "${sibling.section}" (next to line ${sibling.line})`;
      problems.push(
        `\`${path}\` (${decls.map((d) => d.declaredIn).join('; ')}) is not documented: add a row for it to ${where} in ${REFERENCE_DOC}`,
      );
    }
  }
  for (const [path, documented] of byPath) {
    const first = documented[0] as DocumentedField;
    if (!declarations.has(path)) {
      problems.push(
        `\`${path}\` (${REFERENCE_DOC} line ${first.line}, under "${first.section}") is documented but is not a field of the schema: remove the row or correct its path`,
      );
    }
    if (documented.length > 1) {
      problems.push(
        `\`${path}\` is documented ${documented.length} times (lines ${documented.map((d) => d.line).join(', ')}): keep one row`,
      );
    }
  }
  for (const row of rows) {
    const decls = declarations.get(row.path);
    if (decls === undefined) continue;
    const at = `\`${row.path}\` (${REFERENCE_DOC} line ${row.line})`;
    for (const [name, value] of [
      ['type', row.type],
      ['default', row.defaultCell],
      ['example', row.example],
    ] as const) {
      if (value.trim() === '') problems.push(`${at} has an empty ${name} cell`);
    }
    const saysRequired = /^required\b/i.test(row.defaultCell.trim());
    const required = decls.every((d) => !d.optional);
    const optional = decls.every((d) => d.optional);
    if (required && !saysRequired) {
      problems.push(`${at} is required in the schema: its default cell must start with "required"`);
    }
    if (optional && saysRequired) {
      problems.push(`${at} is optional in the schema: its default cell must not say "required"`);
    }
    const stated = codeSpans(row.defaultCell).map(normalise);
    for (const d of decls) {
      const literal = d.defaultTag === undefined ? undefined : defaultValue(d.defaultTag);
      if (literal === undefined) continue;
      const value = normalise(literal);
      if (!stated.includes(value)) {
        problems.push(
          `${at} states default ${stated.length === 0 ? 'no value' : stated.map((s) => `\`${s}\``).join(', ')}, but ${d.declaredIn} says @default ${value}: write \`${value}\` in its default cell (or fix the tag)`,
        );
      }
    }
  }
  return problems;
}
