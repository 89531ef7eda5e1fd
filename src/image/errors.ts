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
