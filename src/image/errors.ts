/**
 * The error family shared by the image library: every module defines its own subclass with a
 * string-literal `code` union, so callers (and tests) branch on `code`, never on message text.
 */
export class BaseError<Code extends string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The fallback of an exhaustive `switch`: `value` has type `never` once every case is handled,
 * so the compiler fails when a case is added without its branch. At run time (a value that did
 * not come through a parser) it returns `fallback`, which must fail closed.
 */
export function unhandled<T>(_value: never, fallback: T): T {
  return fallback;
}
