/**
 * Which rule applies to a request: path glob, methods and hosts, first match
 * wins, then the config's default rule, else none (the request passes).
 *
 * Why the path is normalised before matching: a rule on `/api/**` must not be
 * dodged by `/public/../api/x`, `//api/x` or `/%61pi/x`, which most origins
 * resolve to `/api/x`. Matching uses the normalised path; the request that is
 * forwarded keeps its original `uri` (rewriting it is the origin's business).
 * Paths stay case-sensitive, as URIs are.
 *
 * Globs: `*` matches within one segment, a `**` segment matches zero or more
 * whole segments (`/api/**` matches `/api`, `/api/` and `/api/a/b`), and `**`
 * inside a segment matches anything, slashes included. Every other character
 * is literal. Globs are compiled to anchored regular expressions once per
 * container.
 */
import {
  type LimitConfig,
  type LimiterConfig,
  limitsOf,
  type PolicyConfig,
  type RuleConfig,
} from '../config/schema';

/** The parts of a request a rule looks at. */
export interface MatchInput {
  /** The request path as CloudFront gives it (`request.uri`, no query string). */
  readonly uri: string;
  /** Upper-case HTTP method. */
  readonly method: string;
  /** Host name, lower case, without port; undefined when the request had none. */
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
  /** Whether the rule's `match` accepts the request (the path given already normalised). */
  readonly accepts: (normalisedPath: string, input: MatchInput) => boolean;
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

/** Compiles a path glob into an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
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
  return new RegExp(`^${source}$`);
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

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * The path a rule is matched against: percent-encoded unreserved characters
 * decoded (RFC 3986 §6.2.2.2), repeated slashes collapsed, `.` and `..`
 * segments resolved (never above the root). Other percent-encodings, `%2F`
 * included, stay as they are.
 */
export function normalisePathForMatch(uri: string): string {
  const decoded = uri.replace(/%([0-9A-Fa-f]{2})/g, (triple, hex: string) => {
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : triple.toUpperCase();
  });
  const out: string[] = [];
  const segments = decoded.split('/');
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      if (last) out.push('');
      continue;
    }
    if (segment === '' && !last) continue;
    out.push(segment);
  }
  return `/${out.join('/')}`;
}

/** The host a rule is matched against: lower case, no port, no trailing dot. */
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
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h === '' ? undefined : h;
}

/**
 * Compiles every rule of a config.
 *
 * @throws {@link RuleCompileError} when a rule names an unknown policy or the
 * default rule does not exist (only possible with an unvalidated config).
 */
export function compileRules(
  config: Pick<LimiterConfig, 'rules' | 'policies' | 'defaultRule'>,
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
    return { rule, limits, accepts: compileMatch(rule) };
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

function compileMatch(rule: RuleConfig): CompiledRule['accepts'] {
  const path = rule.match.path === undefined ? undefined : globToRegExp(rule.match.path);
  const methods = rule.match.methods === undefined ? undefined : new Set(rule.match.methods);
  const hosts =
    rule.match.hosts === undefined
      ? undefined
      : new Set(rule.match.hosts.map((h) => h.toLowerCase()));
  return (normalisedPath, input) =>
    (path === undefined || path.test(normalisedPath)) &&
    (methods === undefined || methods.has(input.method)) &&
    (hosts === undefined || (input.host !== undefined && hosts.has(input.host)));
}

/**
 * The rule for a request: the first rule whose match accepts it, else the
 * default rule, else `undefined` (the request is not limited).
 */
export function matchRule(compiled: CompiledRules, input: MatchInput): CompiledRule | undefined {
  const path = normalisePathForMatch(input.uri);
  for (const candidate of compiled.rules) {
    if (candidate.accepts(path, input)) return candidate;
  }
  return compiled.defaultRule;
}
