/**
 * The path a rule is matched against, computed from the request's `uri`
 * before any rule is tried. The forwarded request keeps its own `uri`:
 * rewriting it is the origin's business.
 *
 * Why so many steps: a rule on `/demo/**` must catch every spelling that some
 * origin serves as `/demo/...`, or a client picks the spelling the limiter
 * does not know. Origins disagree (Tomcat and Spring drop `;params`, IIS and
 * ASP.NET drop trailing dots and spaces of segments and read `\` as `/`, many
 * decode `%2F`), so the matching path applies the union of what they do: it
 * may put a request under a rule its origin would not (a harmless
 * over-match), never the reverse. What cannot be read one way only (control
 * characters, broken escapes, segments of dots such as `...`, `%2F` inside
 * `;params`) is refused.
 *
 * Steps, in this order (docs/edge.md, Rules, lists them for users):
 * 1. split on `/` and `\`;
 * 2. decode every `%XX`; a decoded `/` (`%2F`) or `\` (`%5C`) splits the
 *    segment again; a control character (raw or encoded, 0x00–0x1F, 0x7F)
 *    or an escape that is not `%` and two hex digits refuses the request;
 * 3. drop each segment's `;params`: from its first `;`, raw or encoded
 *    (Tomcat strips before decoding, others after), to the next raw `/` or
 *    `\`; an encoded separator inside params refuses the request (Tomcat
 *    hides it, nginx and others see it);
 * 4. strip trailing dots and spaces of every segment but `.` and `..`; a
 *    segment of dots and spaces only (`...`, `. `, `.. `) refuses it;
 * 5. resolve `.` and `..` (never above the root), drop empty segments (`//`);
 *    a trailing slash is kept;
 * 6. write each segment in one spelling: unreserved characters, sub-delims
 *    but `;`, `:` and `@` raw, every other byte as `%XX` with upper-case hex.
 *
 * The result is idempotent and never holds `//`, `/./`, `/../`, `\` or `;`.
 * Letter case is kept: case-insensitive rules compare without it
 * (rule-match.ts).
 */

/** Why a path is refused. */
export type PathRefusal =
  | 'control-character'
  | 'malformed-escape'
  | 'dot-segment'
  | 'separator-in-params';

/** The matching path, or why there is none. */
export type PathOutcome =
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'refused'; readonly reason: PathRefusal };

/** Bytes written as themselves: unreserved, sub-delims but `;`, `:` and `@` (RFC 3986 pchar). */
const RAW = new Set(
  Array.from(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@",
    (c) => c.charCodeAt(0),
  ),
);

const HEX2 = /^[0-9A-Fa-f]{2}$/;
const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const SPACE = 0x20;
const utf8 = new TextEncoder();

function isControl(byte: number): boolean {
  return byte < 0x20 || byte === 0x7f;
}

/** A segment as bytes, kept in a string (one char per byte, 0-255) so comparisons stay cheap. */
type Bytes = string;

const SEMICOLON = 0x3b;

/**
 * One raw segment (no `/` or `\`) decoded into one or more byte strings: a
 * decoded `/` or `\` starts the next; `;params` are dropped.
 */
function decodeSegment(raw: string, into: Bytes[]): PathRefusal | undefined {
  let current = '';
  let inParams = false;
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    let byte: number;
    if (code === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX2.test(hex)) return 'malformed-escape';
      i += 2;
      byte = Number.parseInt(hex, 16);
      if (byte === SLASH || byte === BACKSLASH) {
        if (inParams) return 'separator-in-params';
        into.push(current);
        current = '';
        continue;
      }
    } else if (code < 0x80) {
      byte = code;
    } else {
      // A character CloudFront left unencoded: its UTF-8 bytes, as a client would have sent them.
      const point = raw.codePointAt(i) as number;
      if (point > 0xffff) i++;
      if (!inParams) {
        for (const b of utf8.encode(String.fromCodePoint(point))) current += String.fromCharCode(b);
      }
      continue;
    }
    if (isControl(byte)) return 'control-character';
    if (byte === SEMICOLON) inParams = true;
    if (!inParams) current += String.fromCharCode(byte);
  }
  into.push(current);
  return undefined;
}

/** Step 4: `demo. ` → `demo`; `undefined` for a segment of dots and spaces that is not `.` or `..`. */
function stripTrailing(segment: Bytes): Bytes | undefined {
  if (segment === '.' || segment === '..') return segment;
  let end = segment.length;
  while (end > 0) {
    const code = segment.charCodeAt(end - 1);
    if (code !== DOT && code !== SPACE) break;
    end--;
  }
  if (end === 0 && segment.includes('.')) return undefined;
  return segment.slice(0, end);
}

function encodeSegment(segment: Bytes): string {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const byte = segment.charCodeAt(i);
    out += RAW.has(byte) ? segment[i] : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The path rules are matched against (see the module comment for each step). */
export function normalisePath(uri: string): PathOutcome {
  const decoded: Bytes[] = [];
  for (const raw of uri.split(/[/\\]/)) {
    const refusal = decodeSegment(raw, decoded);
    if (refusal !== undefined) return { kind: 'refused', reason: refusal };
  }
  const out: string[] = [];
  for (let i = 0; i < decoded.length; i++) {
    const segment = stripTrailing(decoded[i]!);
    if (segment === undefined) return { kind: 'refused', reason: 'dot-segment' };
    const last = i === decoded.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      if (last) out.push('');
      continue;
    }
    if (segment === '' && !last) continue;
    out.push(encodeSegment(segment));
  }
  return { kind: 'path', path: `/${out.join('/')}` };
}
