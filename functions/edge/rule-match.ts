/**
 * Which rule applies to a request: path glob, methods and hosts, first match
 * wins, then the config's default rule, else none (the request passes).
 *
 * Why the request is normalised before matching: a rule on `/api/**` must not
 * be dodged by `/public/../api/x`, `/API/x`, `/api;a=b/x`, `/api./x` or
 * `/%61pi/x`, which some origin resolves to `/api/x`, nor a host rule by
 * `API.example.com.` or a second `Host` line. Paths are normalised by
 * normalise-path.ts (the forwarded `uri` is left as it is), hosts here; what
 * cannot be read one way only is refused ({@link matchInputOf}).
 *
 * Paths compare without letter case unless the rule's `match.caseInsensitive`
 * (or the config's `matching.caseInsensitive`) is `false`: Express, ASP.NET
 * Core and IIS serve `/DEMO/x` as `/demo/x`, and an over-match on an origin
 * that does not only charges a request to a rule written for another
 * spelling of its path. Hosts always compare without case (DNS).
 *
 * Globs: `*` matches within one segment, a `**` segment matches zero or more
 * whole segments (`/api/**` matches `/api`, `/api/` and `/api/a/b`), and `**`
 * inside a segment matches anything, slashes included. Every other character
 * is literal. Globs are compiled to anchored regular expressions once per
 * container.
 */
import { caseInsensitivePathsOf } from '../config/resolve';
import {
  type LimitConfig,
  type LimiterConfig,
  limitsOf,
  type PolicyConfig,
  type RuleConfig,
} from '../config/schema';
import { normalisePath, type PathRefusal } from './normalise-path';

/** The parts of a request a rule looks at. */
export interface MatchInput {
  /** The request path, normalised by {@link normalisePath} (see {@link matchInputOf}). */
  readonly path: string;
  /** Upper-case HTTP method. */
  readonly method: string;
  /** Host name as {@link normaliseHost} writes it; undefined when the request had none. */
  readonly host: string | undefined;
}

/** One limit of a rule, with its policy resolved. */
export interface CompiledLimit {
  readonly limit: LimitConfig;
  readonly policy: PolicyConfig;
}

/** A rule ready to match, with the policies of its limits resolved. */
export interface CompiledRule {
  readonly rule: RuleConfig;
  /** What the request is charged to, in the rule's order (at least one). */
  readonly limits: readonly CompiledLimit[];
  /** Whether the rule's `match` accepts the request. */
  readonly accepts: (input: MatchInput) => boolean;
}

/** Every rule of a config, compiled. */
export interface CompiledRules {
  readonly rules: readonly CompiledRule[];
  /** The rule applied when none matches. */
  readonly defaultRule: CompiledRule | undefined;
}

/** The config refers to something that does not exist (it was not validated). */
export class RuleCompileError extends Error {
  override readonly name = 'RuleCompileError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Compiles a path glob into an anchored regular expression (ASCII letters of any case with `caseInsensitive`). */
export function globToRegExp(glob: string, caseInsensitive = false): RegExp {
  const segments = glob.split('/');
  let source = '';
  // The leading empty segment of an absolute glob contributes nothing.
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (i === 0) {
      source += segmentSource(segment);
      continue;
    }
    source += segment === '**' ? '(?:/.*)?' : `/${segmentSource(segment)}`;
  }
  return new RegExp(`^${source}$`, caseInsensitive ? 'i' : '');
}

function segmentSource(segment: string): string {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i]!;
    if (ch === '*') {
      if (segment[i + 1] === '*') {
        out += '.*';
        i++;
      } else {
        out += '[^/]*';
      }
    } else {
      out += ch.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return out;
}

/** Why a request's host is refused. */
export type HostRefusal = 'several-host-lines' | 'invalid-host';

/** A request that cannot be matched one way only, and is answered 400. */
export interface AmbiguousRequest {
  readonly part: 'path' | 'host';
  readonly reason: PathRefusal | HostRefusal;
}

/** The host a rule is matched against: lower case, no port, no trailing dots. */
export function normaliseHost(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end === -1 ? h : h.slice(0, end + 1);
  } else {
    const colon = h.indexOf(':');
    if (colon !== -1) h = h.slice(0, colon);
  }
  let end = h.length;
  while (end > 0 && h[end - 1] === '.') end--;
  h = h.slice(0, end);
  return h === '' ? undefined : h;
}

/** A name of dot-separated labels (letters, digits, `-`, `_`), or a bracketed IPv6 literal. */
const VALID_HOST = /^(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])$/;
/** What may follow the host: nothing, or `:` and a port (possibly empty, RFC 3986 §3.2.3). */
const PORT_TAIL = /^(?::\d{0,5})?$/;

/**
 * The host of a request, from every `Host` line it carries: two lines (even
 * equal ones: RFC 9112 §3.2 asks a server to answer 400) or a value that is
 * not a host name, an IP address or a bracketed IPv6 literal with an
 * optional port are refused, since the origin may read them otherwise.
 */
export function readHost(
  lines: readonly { readonly value: string }[] | undefined,
):
  | { readonly kind: 'host'; readonly host: string | undefined }
  | { readonly kind: 'refused'; readonly reason: HostRefusal } {
  if (lines === undefined || lines.length === 0) return { kind: 'host', host: undefined };
  if (lines.length > 1) return { kind: 'refused', reason: 'several-host-lines' };
  const raw = lines[0]!.value.trim().toLowerCase();
  if (raw === '') return { kind: 'host', host: undefined };
  const bracket = raw.startsWith('[') ? raw.indexOf(']') + 1 : 0;
  const colon = raw.indexOf(':', bracket);
  const name = colon === -1 ? raw : raw.slice(0, colon);
  const tail = colon === -1 ? '' : raw.slice(colon);
  const host = normaliseHost(name);
  if (host === undefined || !VALID_HOST.test(host) || !PORT_TAIL.test(tail)) {
    return { kind: 'refused', reason: 'invalid-host' };
  }
  return { kind: 'host', host };
}

/** What a rule is matched against, or why the request cannot be matched. */
export type MatchTarget =
  | { readonly kind: 'input'; readonly input: MatchInput }
  | { readonly kind: 'refused'; readonly problem: AmbiguousRequest };

/** The part of a CloudFront request rules look at. */
export interface MatchableRequest {
  readonly uri: unknown;
  readonly method: unknown;
  readonly headers: Readonly<Record<string, readonly { readonly value: string }[] | undefined>>;
}

/**
 * Reads a request for matching: its normalised path ({@link normalisePath}),
 * upper-case method and normalised host ({@link readHost}); or the reason it
 * is refused. Applied to every request, limited paths or not: an ambiguous
 * request cannot be said to be on an unlimited path either.
 */
export function matchInputOf(request: MatchableRequest): MatchTarget {
  const path = normalisePath(typeof request.uri === 'string' ? request.uri : '/');
  if (path.kind === 'refused')
    return { kind: 'refused', problem: { part: 'path', reason: path.reason } };
  const host = readHost(request.headers.host);
  if (host.kind === 'refused')
    return { kind: 'refused', problem: { part: 'host', reason: host.reason } };
  return {
    kind: 'input',
    input: { path: path.path, method: String(request.method).toUpperCase(), host: host.host },
  };
}

/**
 * Compiles every rule of a config.
 *
 * @throws {@link RuleCompileError} when a rule names an unknown policy or the
 * default rule does not exist (only possible with an unvalidated config).
 */
export function compileRules(
  config: Pick<LimiterConfig, 'rules' | 'policies' | 'defaultRule' | 'matching'>,
): CompiledRules {
  const policies = new Map(config.policies.map((p) => [p.id, p]));
  const rules = config.rules.map((rule): CompiledRule => {
    const limits = limitsOf(rule).map((limit): CompiledLimit => {
      const policy = policies.get(limit.policy);
      if (policy === undefined) {
        throw new RuleCompileError(`rule "${rule.id}" names unknown policy "${limit.policy}"`);
      }
      return { limit, policy };
    });
    return { rule, limits, accepts: compileMatch(rule, caseInsensitivePathsOf(config, rule)) };
  });
  let defaultRule: CompiledRule | undefined;
  if (config.defaultRule !== undefined) {
    defaultRule = rules.find((r) => r.rule.id === config.defaultRule);
    if (defaultRule === undefined) {
      throw new RuleCompileError(`defaultRule "${config.defaultRule}" is not a rule id`);
    }
  }
  return { rules, defaultRule };
}

function compileMatch(rule: RuleConfig, caseInsensitive: boolean): CompiledRule['accepts'] {
  const path =
    rule.match.path === undefined ? undefined : globToRegExp(rule.match.path, caseInsensitive);
  const methods = rule.match.methods === undefined ? undefined : new Set(rule.match.methods);
  const hosts =
    rule.match.hosts === undefined
      ? undefined
      : new Set(rule.match.hosts.map((h) => normaliseHost(h) ?? ''));
  return (input) =>
    (path === undefined || path.test(input.path)) &&
    (methods === undefined || methods.has(input.method)) &&
    (hosts === undefined || (input.host !== undefined && hosts.has(input.host)));
}

/**
 * The rule for a request: the first rule whose match accepts it, else the
 * default rule, else `undefined` (the request is not limited).
 */
export function matchRule(compiled: CompiledRules, input: MatchInput): CompiledRule | undefined {
  for (const candidate of compiled.rules) {
    if (candidate.accepts(input)) return candidate;
  }
  return compiled.defaultRule;
}
