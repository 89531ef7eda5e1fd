import { DockerReferenceError } from './errors.ts';
import type { AnyReference } from './reference.ts';
import { anyReferenceFamiliarString } from './reference.ts';

function escapeForClass(ch: string): string {
  return `\\u{${ch.codePointAt(0)!.toString(16)}}`;
}

function badPattern(pattern: string, detail: string): DockerReferenceError {
  return new DockerReferenceError('PATTERN_INVALID', `invalid pattern ${JSON.stringify(pattern)}: ${detail}`);
}

/**
 * Compiles a Go `path.Match` pattern: `*` and `?` never match `/`, `[...]`/`[^...]` classes
 * with ranges, `\` escapes. The whole pattern is validated up front, as Go does.
 */
export function compilePathPattern(pattern: string): RegExp {
  const chars = [...pattern];
  let out = '^';
  let i = 0;
  const readClassChar = (): string => {
    const c = chars[i];
    if (c === undefined) throw badPattern(pattern, 'unterminated character class');
    if (c === '-' || c === ']')
      throw badPattern(pattern, `unexpected ${JSON.stringify(c)} in character class`);
    i++;
    if (c === '\\') {
      const e = chars[i];
      if (e === undefined) throw badPattern(pattern, 'trailing backslash');
      i++;
      return e;
    }
    return c;
  };
  while (i < chars.length) {
    const c = chars[i]!;
    i++;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '\\') {
      const e = chars[i];
      if (e === undefined) throw badPattern(pattern, 'trailing backslash');
      i++;
      out += escapeForClass(e);
    } else if (c === '[') {
      let cls = '[';
      if (chars[i] === '^') {
        cls += '^';
        i++;
      }
      let ranges = 0;
      while (chars[i] !== ']' || ranges === 0) {
        const lo = readClassChar();
        let hi = lo;
        if (chars[i] === '-') {
          i++;
          hi = readClassChar();
        }
        cls += lo === hi ? escapeForClass(lo) : hi < lo ? '' : `${escapeForClass(lo)}-${escapeForClass(hi)}`;
        ranges++;
      }
      i++;
      out += cls === '[' || cls === '[^' ? (cls === '[' ? '(?!)' : '[^/]') : `${cls}]`;
    } else out += escapeForClass(c);
  }
  return new RegExp(`${out}$`, 'u');
}

/** Upstream `FamiliarMatch`: the pattern against the familiar string, then the familiar name. */
export function familiarMatch(pattern: string, ref: AnyReference): boolean {
  const re = compilePathPattern(pattern);
  if (re.test(anyReferenceFamiliarString(ref))) return true;
  return ref.kind === 'named' && re.test(ref.ref.familiarName());
}
