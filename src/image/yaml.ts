// The one module that imports the yaml library: YAML documents parsed with bounded alias expansion.
// Imported on first use: most runs (no registries.d files) never parse YAML.
// The package is CommonJS: its exports object is the default export, whether Node imports it or
// the CLI bundle (scripts/build.ts) includes it.
let yaml: Promise<typeof import('yaml')> | undefined;

/** Parses one YAML document; aliases are capped so a small file cannot expand without bound. */
export async function parseYamlDocument(text: string, maxAliasCount = 10): Promise<unknown> {
  yaml ??= import('yaml').then((m) => (m as unknown as { default: typeof import('yaml') }).default);
  return (await yaml).parse(text, { maxAliasCount });
}
