/**
 * The docs stand alone: every relative link of README.md and docs/*.md
 * points at a file that exists and, for a Markdown target with an anchor, at
 * a heading that exists; and no file of the repository cites design notes
 * that live outside it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { githubAnchor, headings, links } from './markdown';
import { REPO_ROOT } from './schema-fields';

/** The documents whose links are checked, relative to the repository root. */
function documents(): string[] {
  const docs = readdirSync(path.join(REPO_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs.sort()];
}

const read = (rel: string) => readFileSync(path.join(REPO_ROOT, rel), 'utf8');

/** Problems of one document's relative links (empty when every link resolves). */
function linkProblems(doc: string): string[] {
  const problems: string[] = [];
  for (const link of links(read(doc))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) continue; // https:, mailto:
    const [file = '', anchor] = link.target.split('#', 2);
    const target =
      file === '' ? doc : path.posix.normalize(path.posix.join(path.posix.dirname(doc), file));
    const at = `${doc}:${link.line}: [${link.text}](${link.target})`;
    if (target.startsWith('..') || !existsSync(path.join(REPO_ROOT, target))) {
      problems.push(`${at}: ${target} does not exist`);
      continue;
    }
    if (anchor !== undefined && target.endsWith('.md')) {
      const anchors = headings(read(target)).map((h) => h.anchor);
      if (!anchors.includes(anchor)) {
        problems.push(`${at}: ${target} has no heading with anchor #${anchor}`);
      }
    }
  }
  return problems;
}

describe('links in the docs', () => {
  it.each(documents())('%s: every relative link points at a file and heading that exist', (doc) => {
    const problems = linkProblems(doc);
    expect(problems, `\n${problems.join('\n')}\n`).toEqual([]);
  });

  it('derives anchors the way GitHub does', () => {
    expect(githubAnchor('What `/health` shows')).toBe('what-health-shows');
    expect(githubAnchor('Changing a limit: edit in place or bump `version`')).toBe(
      'changing-a-limit-edit-in-place-or-bump-version',
    );
    expect(headings('# A\n## A\n```\n# not a heading\n```\n').map((h) => h.anchor)).toEqual([
      'a',
      'a-1',
    ]);
  });
});

const SHARED_DIR = new RegExp(`(?:\\.\\./)+${'shared'}\\b`, 'g');
/** A notes file named like README.md: upper case, `.md`. */
const NOTES_FILE = /\b[A-Z][A-Z0-9_-]*\.md\b/g;

/**
 * What `file` cites outside the repository: a notes file (an upper-case name
 * ending in `.md`) that no file of the repository is called, and any relative
 * path to a `shared` folder that, taken relative to the file, leaves the
 * repository or names nothing in it (from functions/api, the folder
 * functions/shared is a module of the project).
 */
function citationsIn(file: string, text: string, names: ReadonlySet<string>): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(NOTES_FILE)) if (!names.has(m[0])) found.push(m[0]);
  for (const m of text.matchAll(SHARED_DIR)) {
    const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[0]));
    if (resolved.startsWith('..') || !existsSync(path.join(REPO_ROOT, resolved))) {
      found.push(m[0]);
    }
  }
  return [...new Set(found)];
}

/** Files of the repository: tracked ones and new ones not ignored. */
function repositoryFiles(): string[] {
  const out = execFileSync(
    'git',
    ['ls-files', '--cached', '--others', '--exclude-standard', '-z'],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return out
    .split('\0')
    .filter((f) => f !== '' && existsSync(path.join(REPO_ROOT, f)))
    .filter((f) => !/\.(png|jpe?g|gif|ico|woff2?|zip|gz)$/i.test(f));
}

describe('no references outside the repository', () => {
  const files = repositoryFiles();
  const names = new Set(files.map((f) => path.posix.basename(f)));

  it('recognises a citation, and tells a module path from a path out of the repository', () => {
    const notes = ['..', 'shared'].join('/');
    const known = new Set(['README.md']);
    expect(citationsIn('README.md', `see ${notes}/guide`, known)).toEqual([notes]);
    expect(citationsIn('docs/a.md', `see ../${notes}/guide`, known)).toEqual([`../${notes}`]);
    expect(citationsIn('functions/api/handler.ts', `import '${notes}/http';`, known)).toEqual([]);
    // Spelled in parts, so that this file cites no such file itself.
    const missing = ['NOTES', 'md'].join('.');
    expect(citationsIn('test/core/a.ts', `(${missing} §4)`, known)).toEqual([missing]);
    expect(citationsIn('docs/a.md', 'see README.md', known)).toEqual([]);
  });

  it('no file cites notes that are not in the repository', () => {
    const offenders = files.flatMap((f) => {
      const text = read(f);
      if (text.includes('\0')) return [];
      return citationsIn(f, text, names).map(
        (note) => `${f} cites ${note}: say it in docs/ instead`,
      );
    });
    expect(offenders, `\n${offenders.join('\n')}\n`).toEqual([]);
  });
});
