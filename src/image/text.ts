// Text that came from outside and is echoed back (messages, warnings, annotations, Events, logs)
// is bounded here, so that a 300,000-character image name costs a few hundred bytes to report.

const CONTROL_OR_SPACE = /[\s\u0000-\u001f\u007f-\u009f]+/g;

/**
 * `text` when it has at most `max` UTF-16 units; else its start, an ellipsis and its length,
 * `max` units in all (for `max` of 32 or more). Never splits a surrogate pair.
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const tail = `… (${text.length} characters)`;
  let cut = Math.max(0, max - tail.length);
  const last = text.charCodeAt(cut - 1);
  if (cut > 0 && last >= 0xd800 && last <= 0xdbff) cut--;
  return `${text.slice(0, cut)}${tail}`;
}

/**
 * `text` as one line of at most `max` UTF-16 units: each run of whitespace and control
 * characters becomes one space (HTTP Warning headers refuse control characters).
 */
export function oneLine(text: string, max: number): string {
  return truncate(text.replace(CONTROL_OR_SPACE, ' ').trim(), max);
}
