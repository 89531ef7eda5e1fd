// The one module that imports the yaml library: YAML documents parsed with bounded alias expansion.
import { parse } from 'yaml';

/** Parses one YAML document; aliases are capped so a small file cannot expand without bound. */
export function parseYamlDocument(text: string, maxAliasCount = 10): unknown {
  return parse(text, { maxAliasCount });
}
