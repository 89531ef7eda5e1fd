// Warnings for valid but risky policies: what `portcullis policy lint` reports beyond parse errors.
import { domainRegexp, parseNamed } from '../reference/index.ts';
import type { Policy, PolicyRequirements } from './policy-types.ts';
import { requirementType } from './requirements/index.ts';
import type { Strength } from './requirements/types.ts';
import { knownScopeValidators } from './scope-validation.ts';

export type LintCode =
  | 'DEFAULT_ACCEPTS_ANYTHING'
  | 'TRANSPORT_ACCEPTS_ANYTHING'
  | 'SCOPE_WEAKENS_ENCLOSING'
  | 'UNKNOWN_TRANSPORT'
  | 'SCOPE_NEVER_MATCHES'
  | 'REQUIREMENT_ALWAYS_REJECTS'
  | 'NOT_PORTABLE'
  | 'IDENTITY_NOT_CHECKED';

export interface LintWarning {
  readonly code: LintCode;
  /** JSON pointer into the policy. */
  readonly pointer: string;
  readonly message: string;
}

/** How strict a requirement list is: any reject wins, then any verification, else nothing. */
function strength(reqs: PolicyRequirements): Strength {
  const each = reqs.map((r) => requirementType(r).strength(r));
  if (each.includes('rejects')) return 'rejects';
  if (each.includes('verifies')) return 'verifies';
  return 'accepts-anything';
}

function pointer(...tokens: string[]): string {
  return tokens.map((t) => `/${t.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** Scopes that would apply to an image under `scope` if `scope` were absent, most specific first. */
export function enclosingScopes(transport: string, scope: string): string[] {
  const out: string[] = [];
  if (transport === 'docker' || transport === 'atomic' || transport === 'docker-daemon') {
    if (scope.startsWith('*.')) {
      for (let rest = scope.slice(2); rest.includes('.'); ) {
        rest = rest.slice(rest.indexOf('.') + 1);
        out.push(`*.${rest}`);
      }
      return out;
    }
    let name = scope.replace(/@.*$/, '');
    const slash = name.lastIndexOf('/');
    const colon = name.lastIndexOf(':');
    if (colon > slash && slash >= 0) {
      name = name.slice(0, colon);
      out.push(name);
    }
    for (let i = name.lastIndexOf('/'); i > 0; i = name.lastIndexOf('/')) {
      name = name.slice(0, i);
      out.push(name);
    }
    let host = name.replace(/:\d+$/, '');
    if (host !== 'localhost') {
      while (host.includes('.')) {
        host = host.slice(host.indexOf('.') + 1);
        out.push(`*.${host}`);
      }
    }
    return out;
  }
  for (let p = scope; p.lastIndexOf('/') > 0; ) {
    p = p.slice(0, p.lastIndexOf('/'));
    out.push(p);
  }
  return out;
}

/** Docker scopes are compared with fully qualified names: `busybox` or `docker.io/busybox` never match. */
function dockerScopeCanMatch(scope: string): boolean {
  if (scope.startsWith('*.')) return domainRegexp.test(scope.slice(2));
  if (domainRegexp.test(scope) && (scope.includes('.') || scope.includes(':') || scope === 'localhost'))
    return true;
  try {
    parseNamed(scope);
    return true;
  } catch {
    return false;
  }
}

export function lintPolicy(policy: Policy): LintWarning[] {
  const warnings: LintWarning[] = [];
  const defaultStrength = strength(policy.default);
  if (defaultStrength === 'accepts-anything') {
    warnings.push({
      code: 'DEFAULT_ACCEPTS_ANYTHING',
      pointer: '/default',
      message: 'the default policy accepts any image without signature verification',
    });
  }
  const checkRequirements = (reqs: PolicyRequirements, at: string) => {
    for (const [i, r] of reqs.entries()) {
      const type = requirementType(r);
      for (const w of type.lint(r))
        warnings.push({ code: w.code, pointer: `${at}/${i}`, message: w.message });
      const extensions = type.extensionFields(r);
      if (extensions.length > 0) {
        warnings.push({
          code: 'NOT_PORTABLE',
          pointer: `${at}/${i}`,
          message: `${r.type} uses Portcullis extensions (${extensions.join(', ')}): Podman, skopeo and CRI-O reject this policy`,
        });
      }
    }
  };
  checkRequirements(policy.default, '/default');
  for (const [transport, scopes] of policy.transports) {
    if (!knownScopeValidators.has(transport)) {
      warnings.push({
        code: 'UNKNOWN_TRANSPORT',
        pointer: pointer('transports', transport),
        message: `transport ${JSON.stringify(transport)} is not known: its scopes never apply (a typo?)`,
      });
    }
    for (const [scope, reqs] of scopes) {
      const at = pointer('transports', transport, scope);
      checkRequirements(reqs, at);
      if (transport === 'docker' && scope !== '' && !dockerScopeCanMatch(scope)) {
        warnings.push({
          code: 'SCOPE_NEVER_MATCHES',
          pointer: at,
          message: `scope ${JSON.stringify(scope)} never matches: docker scopes use fully qualified names such as docker.io/library/busybox`,
        });
      }
      if (strength(reqs) !== 'accepts-anything') continue;
      if (scope === '') {
        if (defaultStrength !== 'accepts-anything') {
          warnings.push({
            code: 'TRANSPORT_ACCEPTS_ANYTHING',
            pointer: at,
            message: `every ${transport}: image is accepted without signature verification, overriding the stricter default`,
          });
        }
        continue;
      }
      const enclosing = enclosingScopes(transport, scope).find((s) => scopes.has(s));
      const enclosingReqs =
        enclosing === undefined ? (scopes.get('') ?? policy.default) : scopes.get(enclosing)!;
      if (strength(enclosingReqs) !== 'accepts-anything') {
        const which =
          enclosing !== undefined
            ? `scope ${JSON.stringify(enclosing)}`
            : scopes.has('')
              ? `the ${transport} "" scope`
              : 'the default policy';
        warnings.push({
          code: 'SCOPE_WEAKENS_ENCLOSING',
          pointer: at,
          message: `scope ${JSON.stringify(scope)} accepts images without signature verification and shadows the stricter ${which}`,
        });
      }
    }
  }
  return warnings;
}
