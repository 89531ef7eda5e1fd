// The one module that imports the yaml library: YAML documents parsed with bounded alias expansion.
// Imported on first use: most runs (no registries.d files) never parse YAML.
let yaml: Promise<typeof import('yaml')> | undefined;

/** Parses one YAML document; aliases are capped so a small file cannot expand without bound. */
export async function parseYamlDocument(text: string, maxAliasCount = 10): Promise<unknown> {
  yaml ??= import('yaml');
  return (await yaml).parse(text, { maxAliasCount });
}
