import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalisePath, type PathRefusal } from '../../functions/edge/normalise-path';

const pathOf = (uri: string) => {
  const outcome = normalisePath(uri);
  if (outcome.kind !== 'path') throw new Error(`${uri} refused: ${outcome.reason}`);
  return outcome.path;
};

describe('normalisePath', () => {
  const cases: [uri: string, path: string][] = [
    ['/api/x', '/api/x'],
    ['', '/'],
    ['/', '/'],
    ['/api/', '/api/'],
    // Separators: repeated, backslashes, encoded slashes and backslashes.
    ['//api///x', '/api/x'],
    ['/api\\x', '/api/x'],
    ['/api%2Fx', '/api/x'],
    ['/api%2fx', '/api/x'],
    ['/api%5Cx', '/api/x'],
    ['/api%2F', '/api/'],
    // Dot segments, raw and encoded, never above the root.
    ['/public/../api/x', '/api/x'],
    ['/./api/./x', '/api/x'],
    ['/../../api', '/api'],
    ['/%2e%2e/api', '/api'],
    ['/public/%2E%2E%2Fapi/x', '/api/x'],
    ['/a/..', '/'],
    ['/a/b/.', '/a/b/'],
    // Tomcat and Spring: `;params` dropped per segment, `..;` is `..`.
    ['/api;a=b/x', '/api/x'],
    ['/api;jsessionid=1', '/api'],
    ['/;x/api/x', '/api/x'],
    ['/public/..;/api/x', '/api/x'],
    ['/api%3Bx/y', '/api/y'],
    ['/api%3bx', '/api'],
    // Windows, IIS, ASP.NET: trailing dots and spaces of a segment dropped.
    ['/api./x', '/api/x'],
    ['/api../x', '/api/x'],
    ['/api%20/x', '/api/x'],
    ['/api.%20./x', '/api/x'],
    ['/api/x.', '/api/x'],
    ['/api/%20/x', '/api/x'],
    ['/v1.0/x', '/v1.0/x'],
    // One spelling per byte: unreserved and sub-delims raw, the rest upper-case %XX.
    ['/%61pi/x', '/api/x'],
    ['/%7Euser', '/~user'],
    ['/a%2Cb%21', '/a,b!'],
    ['/a b', '/a%20b'],
    ['/a%20b', '/a%20b'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/café', '/caf%C3%A9'],
    ['/100%25', '/100%25'],
    ['/a%3fb', '/a%3Fb'],
    ['/API/X', '/API/X'],
  ];
  it.each(cases)('%s → %s', (uri, expected) => {
    expect(normalisePath(uri)).toEqual({ kind: 'path', path: expected });
  });

  const refused: [uri: string, reason: PathRefusal][] = [
    ['/demo%00/x', 'control-character'],
    ['/demo/x%00.json', 'control-character'],
    ['/demo%0A/x', 'control-character'],
    ['/demo%7f', 'control-character'],
    ['/demo\u0000/x', 'control-character'],
    ['/demo\t/x', 'control-character'],
    ['/demo%zz', 'malformed-escape'],
    ['/demo%2', 'malformed-escape'],
    ['/demo%', 'malformed-escape'],
    ['/demo%u0041', 'malformed-escape'],
    ['/.../demo', 'dot-segment'],
    ['/public/.. /demo', 'dot-segment'],
    ['/public/.%20/demo', 'dot-segment'],
    ['/x;p%2F../demo', 'separator-in-params'],
    ['/x%3Bp%5C../demo', 'separator-in-params'],
    ['/demo;a=%00/x', 'control-character'],
  ];
  it.each(refused)('refuses %s (%s)', (uri, reason) => {
    expect(normalisePath(uri)).toEqual({ kind: 'refused', reason });
  });

  it('drops params up to the next raw separator, whatever they hold', () => {
    expect(pathOf('/a;p=1;q=2/b')).toBe('/a/b');
    expect(pathOf('/a;p=%C3%A9.%20/b')).toBe('/a/b');
    expect(pathOf('/a;p=é/b')).toBe('/a/b');
  });
});

/** Pieces a client may spell a path with: every character class the steps look at. */
const piece = fc.constantFrom(
  ...[
    ...'aAzZ09-_~.!$&\'()*+,=:@ /\\;?#"é',
    ...['%2F', '%2f', '%5C', '%5c', '%2E', '%2e', '%20', '%41', '%61', '%3B', '%25', '%3F'],
    ...['%C3%A9', '%c3%a9', '%7E', '..', './', '../', '.;', 'x.', 'x%20'],
  ],
);
const uri = fc.array(piece, { maxLength: 24 }).map((pieces) => `/${pieces.join('')}`);

describe('normalisePath properties', () => {
  it('is idempotent, and its paths hold no //, /./, /../, \\ or ; and one spelling per byte', () => {
    fc.assert(
      fc.property(uri, (raw) => {
        const once = normalisePath(raw);
        if (once.kind === 'refused') return;
        expect(normalisePath(once.path)).toEqual(once);
        const p = once.path;
        expect(p.startsWith('/')).toBe(true);
        for (const bad of ['//', '/./', '/../', '\\', ';']) expect(p).not.toContain(bad);
        expect(p.endsWith('/.') || p.endsWith('/..')).toBe(false);
        // Raw characters are unreserved, sub-delims but ";", ":" or "@"; escapes are
        // upper-case and only for bytes that have no raw spelling.
        expect(p).toMatch(/^(?:[A-Za-z0-9\-._~!$&'()*+,=:@/]|%[0-9A-F]{2})*$/);
        for (const [, hex] of p.matchAll(/%([0-9A-F]{2})/g)) {
          expect(String.fromCharCode(Number.parseInt(hex!, 16))).not.toMatch(
            /[A-Za-z0-9\-._~!$&'()*+,=:@/\\;]/,
          );
        }
      }),
      { numRuns: 2000 },
    );
  });

  /** A path already normal: segments that are names, no dot or space at their end. */
  const normalPath = fc
    .array(fc.stringMatching(/^[a-z0-9](?:[a-z0-9._~-]{0,6}[a-z0-9])?$/), {
      minLength: 1,
      maxLength: 5,
    })
    .map((segments) => segments);

  /** Spellings of one separator and of one segment that some origin reads as the plain one. */
  const separator = fc.constantFrom('/', '//', '\\', '%2F', '%2f', '%5C', '%5c', '/./', '/zz/../');
  const spelling = fc.constantFrom<(s: string) => string>(
    (s) => s,
    (s) => `${s};p=1`,
    (s) => `${s}.`,
    (s) => `${s}%20`,
    (s) => `${s}. .`,
    (s) => `%${s.charCodeAt(0).toString(16)}${s.slice(1)}`,
    (s) => `%${s.charCodeAt(0).toString(16).toUpperCase()}${s.slice(1)}`,
  );

  const encodedSeparators = new Set(['%2F', '%2f', '%5C', '%5c']);

  it('reads every spelling of a path the audit used (and their combinations) as that path', () => {
    fc.assert(
      fc.property(
        normalPath.chain((segments) =>
          fc.tuple(
            fc.constant(segments),
            fc.array(fc.tuple(separator, spelling), {
              minLength: segments.length,
              maxLength: segments.length,
            }),
          ),
        ),
        ([segments, spellings]) => {
          const plain = `/${segments.join('/')}`;
          const dodged = segments.map((s, i) => spellings[i]![0] + spellings[i]![1](s)).join('');
          // `;p=1` then `%2F`: Tomcat would hide the separator, other servers see it.
          const ambiguous = spellings.some(
            ([, spell], i) =>
              spell('s').includes(';') && encodedSeparators.has(spellings[i + 1]?.[0] ?? ''),
          );
          expect(normalisePath(dodged)).toEqual(
            ambiguous
              ? { kind: 'refused', reason: 'separator-in-params' }
              : { kind: 'path', path: plain },
          );
        },
      ),
      { numRuns: 1000 },
    );
  });
});
