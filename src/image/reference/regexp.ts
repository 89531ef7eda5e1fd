// The docker reference grammar of containers/image (its fork of distribution/reference).
// Written so that no alternative can match the empty string inside a repetition: upstream's
// separator `[-]*` is rewritten as `-+` (the same language, since two adjacent alphanumeric runs
// are one run), which keeps these patterns free of catastrophic backtracking on hostile input.

const alphaNumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|-+)';
const nameComponent = `${alphaNumeric}(?:${separator}${alphaNumeric})*`;
const domainComponent = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)';
const domain = `${domainComponent}(?:\\.${domainComponent})*(?::[0-9]+)?`;
const tag = '[\\w][\\w.-]{0,127}';
const digest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const name = `(?:${domain}/)?${nameComponent}(?:/${nameComponent})*`;

export const domainRegexp = new RegExp(`^${domain}$`);
export const tagRegexp = new RegExp(`^${tag}$`);
export const digestRegexp = new RegExp(`^${digest}$`);
/** Groups: 1 name, 2 tag, 3 digest. */
export const referenceRegexp = new RegExp(`^(${name})(?::(${tag}))?(?:@(${digest}))?$`);
/** Groups: 1 domain (may be undefined), 2 path. */
export const anchoredNameRegexp = new RegExp(`^(?:(${domain})/)?(${nameComponent}(?:/${nameComponent})*)$`);
export const anchoredIdentifierRegexp = /^[a-f0-9]{64}$/;
