/**
 * Small readers over synthesized CloudFormation templates, for assertions
 * that `Template.hasResourceProperties` cannot express (every statement of
 * every policy, a dashboard body built with Fn::Join).
 */

import type { Template } from 'aws-cdk-lib/assertions';

/** One IAM statement as CloudFormation holds it. */
export interface Statement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
  readonly Sid?: string;
}

/** A template resource. */
export interface Resource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

/** Every resource of a type, by logical id. */
export function resourcesOf(template: Template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

/** The only resource of a type. */
export function onlyResource(template: Template, type: string): [string, Resource] {
  const entries = Object.entries(resourcesOf(template, type));
  if (entries.length !== 1) throw new Error(`expected one ${type}, found ${entries.length}`);
  return entries[0] as [string, Resource];
}

/** Statements of the identity policies (AWS::IAM::Policy and inline role policies). */
export function identityStatements(template: Template): Statement[] {
  const docs: { Statement: Statement[] }[] = [];
  for (const p of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
    docs.push(p.Properties.PolicyDocument as { Statement: Statement[] });
  }
  for (const r of Object.values(resourcesOf(template, 'AWS::IAM::Role'))) {
    const inline = (r.Properties.Policies ?? []) as {
      PolicyDocument: { Statement: Statement[] };
    }[];
    docs.push(...inline.map((p) => p.PolicyDocument));
  }
  return docs.flatMap((d) => d.Statement);
}

/** Statements of the policies attached to one role (by its logical id). */
export function roleStatements(template: Template, roleId: string): Statement[] {
  return Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

/** A statement's actions as an array. */
export function actionsOf(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

/** A statement's resources as an array. */
export function resourcesOfStatement(statement: Statement): unknown[] {
  const r = statement.Resource;
  return r === undefined ? [] : Array.isArray(r) ? r : [r];
}

/** Flattens an `Fn::Join` (tokens become `<Ref>` / `<Id.Attr>`), or returns a plain string. */
export function joined(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if ('Fn::Join' in v) {
      const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map(joined).join(sep);
    }
    if ('Ref' in v) return `<${String(v.Ref)}>`;
    if ('Fn::GetAtt' in v) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
  }
  return JSON.stringify(value);
}

/** The logical id of the only resource of a type whose id starts with a prefix. */
export function logicalIdStartingWith(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(resourcesOf(template, type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1)
    throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.length}`);
  return ids[0] as string;
}
