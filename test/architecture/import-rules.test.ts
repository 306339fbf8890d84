/**
 * The dependency rules of functions/, checked on the sources so they stay
 * true: only functions/store speaks DynamoDB (the SDK's clients, the signer of
 * the light transport, the JSON protocol itself), the edge reaches it only
 * through the light transport (no `@aws-sdk/*` import, none of the store's
 * SDK-bound modules; test/architecture/edge-bundle.test.ts checks the bundle
 * itself), and the regional API reads the reconciler's findings through the
 * store port, never from the reconciler's code. Every import form counts (static, type-only, re-export, dynamic
 * `import()`, `require`), as TypeScript's own pre-processor reports them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/** One import rule: files under `from` must not import what `forbids` matches. */
interface ImportRule {
  readonly name: string;
  /** Repository-relative folder the rule applies to. */
  readonly from: string;
  /** Repository-relative folders exempt from it. */
  readonly except?: readonly string[];
  /** Whether an import (a package name, or a repository-relative path for relative imports) is forbidden. */
  readonly forbids: (target: string) => boolean;
}

const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');

/** DynamoDB's SDK clients, and the request signers that let code speak its protocol directly. */
const DYNAMODB_PACKAGES =
  /^(@aws-sdk\/(client-dynamodb|lib-dynamodb|util-dynamodb)|@smithy\/(signature-v4|hash-node)|aws4)(\/|$)/;

/** The store's modules that carry the SDK: the regional functions' only. */
const SDK_BOUND_STORE_MODULES = new Set([
  'functions/store/client',
  'functions/store/sdk-transport',
  'functions/store/regional-stores',
  'functions/store/dynamodb-replication-store',
]);

const RULES: readonly ImportRule[] = [
  {
    name: 'only functions/store speaks DynamoDB',
    from: 'functions',
    except: ['functions/store'],
    forbids: (target) => DYNAMODB_PACKAGES.test(target),
  },
  {
    name: 'the edge reaches DynamoDB through the light transport only',
    from: 'functions/edge',
    forbids: (target) =>
      target.startsWith('@aws-sdk/') || SDK_BOUND_STORE_MODULES.has(target.replace(/\.ts$/, '')),
  },
  {
    name: 'functions/api does not import functions/reconciler',
    from: 'functions/api',
    forbids: (target) =>
      target === 'functions/reconciler' || target.startsWith('functions/reconciler/'),
  },
];

/** Where a module specifier of `file` points: repository-relative for relative specifiers. */
function targetOf(file: string, specifier: string): string {
  if (!specifier.startsWith('.')) return specifier;
  return path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
}

/** Every module specifier a source imports, in any form. */
function importsOf(source: string): string[] {
  const info = ts.preProcessFile(source, true, true);
  return info.importedFiles.map((f) => f.fileName);
}

/** Rule violations of the given sources (repository-relative path → text). */
function violations(sources: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [file, source] of sources) {
    for (const rule of RULES) {
      const inScope =
        file.startsWith(`${rule.from}/`) &&
        !(rule.except ?? []).some((folder) => file.startsWith(`${folder}/`));
      if (!inScope) continue;
      for (const specifier of importsOf(source)) {
        if (rule.forbids(targetOf(file, specifier))) {
          out.push(`${file} imports '${specifier}': ${rule.name}`);
        }
      }
    }
  }
  return out;
}

function sourcesUnder(folder: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(REPO_ROOT, rel), { withFileTypes: true })) {
      const child = path.posix.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (/\.(ts|mts|cts|js|mjs)$/.test(entry.name)) {
        out.set(child, readFileSync(path.join(REPO_ROOT, child), 'utf8'));
      }
    }
  };
  walk(folder);
  return out;
}

describe('import rules of functions/', () => {
  it('hold for every source file', () => {
    const sources = sourcesUnder('functions');
    expect(sources.size).toBeGreaterThan(20);
    expect([...sources.keys()]).toContain('functions/store/dynamodb-replication-store.ts');
    const found = violations(sources);
    expect(found, `\n${found.join('\n')}\n`).toEqual([]);
  });

  it('catch every import form, and only where a rule applies', () => {
    const found = violations(
      new Map([
        [
          'functions/reconciler/a.ts',
          "import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';",
        ],
        ['functions/edge/b.ts', "export { marshall } from '@aws-sdk/util-dynamodb';"],
        ['functions/limiter/c.ts', "const sdk = await import('@aws-sdk/lib-dynamodb');"],
        ['functions/api/d.ts', "import { x } from '../reconciler/status';"],
        ['functions/api/e.ts', "const y = require('../reconciler');"],
        ['functions/api/k.ts', "import aws4 from 'aws4';"],
        ['functions/limiter/q.ts', "import { SignatureV4 } from '@smithy/signature-v4';"],
        ['functions/edge/l.ts', "import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';"],
        ['functions/edge/m.ts', "import { sdkTransport } from '../store/sdk-transport';"],
        ['functions/edge/n.ts', "import { dynamoDbClient } from '../store/client.ts';"],
        // Allowed: the store itself, other SDK clients, the store port, code outside functions/.
        ['functions/store/f.ts', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';"],
        ['functions/store/o.ts', "import aws4 from 'aws4';"],
        ['functions/edge/r.ts', "import { x } from 'aws4fetch';"],
        ['functions/edge/p.ts', "import { httpTransport } from '../store/http-transport';"],
        [
          'functions/reconciler/g.ts',
          "import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';",
        ],
        [
          'functions/api/h.ts',
          "import type { ReplicationStore } from '../store/replication-store';",
        ],
        ['functions/api/i.ts', "import type { X } from '../reconciler-notes';"],
        ['local/j.ts', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';"],
      ]),
    );
    // A file breaking two rules is listed once here.
    expect([...new Set(found.map((v) => v.split(' ')[0]))]).toEqual([
      'functions/reconciler/a.ts',
      'functions/edge/b.ts',
      'functions/limiter/c.ts',
      'functions/api/d.ts',
      'functions/api/e.ts',
      'functions/api/k.ts',
      'functions/limiter/q.ts',
      'functions/edge/l.ts',
      'functions/edge/m.ts',
      'functions/edge/n.ts',
    ]);
  });

  it('keep the DynamoDB JSON protocol in functions/store', () => {
    const speaking = [...sourcesUnder('functions')]
      .filter(([, source]) => source.includes('DynamoDB_20120810'))
      .map(([file]) => file);
    expect(speaking).toContain('functions/store/http-transport.ts');
    expect(speaking.filter((file) => !file.startsWith('functions/store/'))).toEqual([]);
  });
});
