/**
 * Just enough Markdown for the docs checks: headings and their GitHub
 * anchors, pipe tables, and links, all outside fenced code blocks. Not a
 * Markdown parser: the docs keep to these shapes, and the checks fail loudly
 * (a missing row, an unknown anchor) when they do not.
 */

/** A heading, with the anchor GitHub gives it. */
export interface Heading {
  readonly level: number;
  readonly text: string;
  /** 1-based line number. */
  readonly line: number;
  readonly anchor: string;
}

/** One body row of a pipe table, with the header cells and the section it is in. */
export interface TableRow {
  readonly header: readonly string[];
  readonly cells: readonly string[];
  readonly line: number;
  /** Text of the nearest heading above the table ('' before any). */
  readonly section: string;
}

/** A link or image target. */
export interface Link {
  readonly text: string;
  readonly target: string;
  readonly line: number;
}

/** The lines of `md` that are not inside fenced code blocks, with their numbers. */
function proseLines(md: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let fence: string | undefined;
  md.split('\n').forEach((text, i) => {
    const opener = /^\s*(```|~~~)/.exec(text);
    if (opener !== null) {
      if (fence === undefined) fence = opener[1];
      else if (opener[1] === fence) fence = undefined;
      return;
    }
    if (fence === undefined) out.push({ text, line: i + 1 });
  });
  return out;
}

/** Plain text of inline Markdown: code spans, links and emphasis reduced to their text. */
export function plainText(inline: string): string {
  return inline
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/(\*\*|__|\*)/g, '');
}

/** The anchor GitHub derives from a heading's text (without the duplicate suffix). */
export function githubAnchor(headingText: string): string {
  return plainText(headingText)
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every heading of `md`, duplicates numbered as GitHub does (`name`, `name-1`, ...). */
export function headings(md: string): Heading[] {
  const seen = new Map<string, number>();
  const out: Heading[] = [];
  for (const { text, line } of proseLines(md)) {
    const m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(text);
    if (m === null) continue;
    const base = githubAnchor(m[2] as string);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    out.push({
      level: (m[1] as string).length,
      text: m[2] as string,
      line,
      anchor: count === 0 ? base : `${base}-${count}`,
    });
  }
  return out;
}

/** A heading with the prose lines under it, up to the next heading of any level. */
export interface Section {
  readonly heading: Heading;
  /** The heading of the nearest level above it ('' for none). */
  readonly parent: string;
  /** Its body's lines outside fenced code blocks. */
  readonly lines: readonly string[];
}

/** Every section of `md`, in order. */
export function sections(md: string): Section[] {
  const all = headings(md);
  const prose = proseLines(md);
  return all.map((heading, i) => {
    const end = all[i + 1]?.line ?? Number.POSITIVE_INFINITY;
    const parent = all
      .slice(0, i)
      .reverse()
      .find((h) => h.level < heading.level);
    return {
      heading,
      parent: parent?.text ?? '',
      lines: prose.filter((l) => l.line > heading.line && l.line < end).map((l) => l.text),
    };
  });
}

/** The first paragraph of a section: its lines up to the first blank line after some text. */
export function firstParagraph(section: Section): string {
  const lines = [...section.lines];
  while (lines.length > 0 && (lines[0] as string).trim() === '') lines.shift();
  const blank = lines.findIndex((l) => l.trim() === '');
  return (blank < 0 ? lines : lines.slice(0, blank)).join('\n');
}

/** Splits a table line into trimmed cells; `\|` is a pipe inside a cell. */
export function tableCells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  const cells: string[] = [];
  let current = '';
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c === '\\' && inner[i + 1] === '|') {
      current += '|';
      i += 1;
    } else if (c === '|') {
      cells.push(current.trim());
      current = '';
    } else {
      current += c;
    }
  }
  cells.push(current.trim());
  return cells;
}

/** Every body row of every pipe table of `md`. */
export function tableRows(md: string): TableRow[] {
  const lines = proseLines(md);
  const out: TableRow[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const { text } = lines[i] as { text: string };
    const heading = /^#{1,6}\s+(.*)$/.exec(text);
    if (heading !== null) section = heading[1] as string;
    const next = lines[i + 1]?.text ?? '';
    if (!text.trim().startsWith('|') || !/^\s*\|?\s*:?-{3,}/.test(next)) continue;
    const header = tableCells(text);
    let j = i + 2;
    while (j < lines.length && (lines[j] as { text: string }).text.trim().startsWith('|')) {
      const row = lines[j] as { text: string; line: number };
      out.push({ header, cells: tableCells(row.text), line: row.line, section });
      j += 1;
    }
    i = j - 1;
  }
  return out;
}

/** The contents of the code spans of an inline Markdown text. */
export function codeSpans(inline: string): string[] {
  return [...inline.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
}

/** Every inline link and image of `md` outside code (fenced blocks and code spans). */
export function links(md: string): Link[] {
  const out: Link[] = [];
  for (const { text, line } of proseLines(md)) {
    const prose = text.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/!?\[([^\]]*)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      out.push({ text: m[1] as string, target: m[2] as string, line });
    }
  }
  return out;
}
