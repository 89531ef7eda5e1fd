// Keeps the dependency directions described in CONTRIBUTING.md (Layout) true by reading every import in src/.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { requirementTypes } from '../src/image/signature/index.ts';
import { crdRequirementType } from '../src/policy/crd/requirements/index.ts';
import { policyCrd } from '../src/policy/crd/schema.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');

interface Import {
  readonly file: string; // relative to the repo root, e.g. src/image/digest.ts
  readonly target: string; // repo-relative path for local imports, package name otherwise
  readonly local: boolean;
  readonly typeOnly: boolean;
}

function listTs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listTs(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const importPattern = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
const dynamicPattern = /\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g;

function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

const imports: Import[] = listTs(src).flatMap((abs) => {
  const text = readFileSync(abs, 'utf8');
  const file = relative(root, abs);
  const found: Import[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    if (spec.startsWith('node:')) return;
    const local = spec.startsWith('.');
    found.push({
      file,
      target: local ? relative(root, resolve(dirname(abs), spec)) : packageName(spec),
      local,
      typeOnly,
    });
  };
  for (const m of text.matchAll(importPattern)) add(m[3]!, m[2] !== undefined);
  for (const m of text.matchAll(dynamicPattern)) add(m[1]!, false);
  return found;
});

const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);
const violations = (pred: (i: Import) => boolean) =>
  imports.filter(pred).map((i) => `${i.file} -> ${i.target}`);

describe('architecture: dependency directions', () => {
  it('finds the imports of src/', () => {
    assert.ok(
      imports.some((i) => i.file === 'src/image/reference/reference.ts'),
      'the scanner sees nothing',
    );
  });

  it('leaves (types, reference, digest, errors, text) import only node:* and each other', () => {
    const leaves = [
      'src/image/types.ts',
      'src/image/digest.ts',
      'src/image/errors.ts',
      'src/image/text.ts',
      'src/image/reference',
    ];
    const isLeaf = (p: string) => leaves.some((l) => under(p, l));
    assert.deepEqual(
      violations((i) => isLeaf(i.file) && (!i.local || !isLeaf(i.target))),
      [],
    );
  });

  it('the image library imports no fastify, kubernetes or higher layer', () => {
    const higher = ['src/policy', 'src/kube', 'src/webhook', 'src/cache', 'src/cli', 'src/server.ts'];
    assert.deepEqual(
      violations(
        (i) =>
          under(i.file, 'src/image') &&
          (i.local
            ? higher.some((h) => under(i.target, h))
            : ['fastify', '@kubernetes/client-node'].includes(i.target)),
      ),
      [],
    );
  });

  it('transports never import each other, policy/signature or copy; only transports/all.ts wires them', () => {
    const transportOf = (p: string) => /^src\/image\/transports\/([^/]+)\//.exec(p)?.[1];
    assert.deepEqual(
      violations((i) => {
        const own = transportOf(i.file);
        if (own === undefined || !i.local) return false;
        const other = transportOf(i.target);
        return (
          (other !== undefined && other !== own) ||
          under(i.target, 'src/image/signature') ||
          under(i.target, 'src/image/copy')
        );
      }),
      [],
    );
  });

  it('signature and copy code never import a concrete transport', () => {
    assert.deepEqual(
      violations(
        (i) =>
          (under(i.file, 'src/image/signature') || under(i.file, 'src/image/copy')) &&
          i.local &&
          /^src\/image\/transports\/[^/]+\//.test(i.target),
      ),
      [],
    );
  });

  it('policy, kube, webhook and cache reach the image library only through its index', () => {
    const layers = ['src/policy', 'src/kube', 'src/webhook', 'src/cache'];
    assert.deepEqual(
      violations(
        (i) =>
          layers.some((l) => under(i.file, l)) &&
          i.local &&
          under(i.target, 'src/image') &&
          i.target !== 'src/image/index.ts',
      ),
      [],
    );
  });

  it('only webhook imports fastify, only kube imports kubernetes', () => {
    assert.deepEqual(
      violations(
        (i) =>
          (i.target === 'fastify' && !under(i.file, 'src/webhook')) ||
          (i.target === '@kubernetes/client-node' && !under(i.file, 'src/kube')),
      ),
      [],
    );
  });

  it('each third-party library has one importing module', () => {
    const importers = new Map<string, Set<string>>();
    for (const i of imports) {
      if (i.local || i.typeOnly) continue;
      const set = importers.get(i.target) ?? new Set<string>();
      set.add(i.file);
      importers.set(i.target, set);
    }
    const shared = [...importers]
      .filter(([, files]) => files.size > 1)
      .map(([pkg, files]) => `${pkg}: ${[...files].join(', ')}`);
    assert.deepEqual(shared, []);
  });
});

describe('architecture: requirement types', () => {
  const imageSide = 'src/image/signature/requirements';
  const crdSide = 'src/policy/crd/requirements';
  const shared: Record<string, readonly string[]> = {
    [imageSide]: ['index.ts', 'types.ts', 'key-sources.ts', 'signatures.ts'],
    [crdSide]: ['index.ts', 'types.ts', 'schema-fragments.ts'],
  };
  const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const registered = Object.keys(requirementTypes);

  it('each registered type has one module in each requirement folder, and each module is registered', () => {
    for (const dir of [imageSide, crdSide]) {
      const modules = readdirSync(join(root, dir)).filter((f) => !shared[dir]!.includes(f));
      assert.deepEqual(modules.sort(), registered.map((n) => `${kebab(n)}.ts`).sort(), dir);
    }
  });

  it('outside the requirement folders, no code switches on a requirement type', () => {
    const literal = new RegExp(`(\\.type\\s*[!=]==?\\s*|case\\s+)['"](${registered.join('|')})['"]`);
    const naming = listTs(src)
      .map((abs) => relative(root, abs))
      .filter((f) => !under(f, imageSide) && !under(f, crdSide))
      .filter((f) => literal.test(readFileSync(join(root, f), 'utf8')));
    assert.deepEqual(naming, []);
  });

  it('the CRD schema offers exactly the registered types', () => {
    const crd = JSON.stringify(policyCrd('ClusterImagePolicy'));
    const offered = /"type":\{"type":"string","enum":(\[[^\]]*\])\}/.exec(
      crd.slice(crd.indexOf('"default":{')),
    );
    assert.ok(offered, 'no requirement type enum in the CRD schema');
    assert.deepEqual((JSON.parse(offered[1]!) as string[]).sort(), [...registered].sort());
  });

  interface ObjectSchema {
    readonly properties: Readonly<Record<string, unknown>>;
  }
  const crd = policyCrd('ClusterImagePolicy') as {
    spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: ObjectSchema } } } }[] };
  };
  const policySpec = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec;
  const requirementSchema = (policySpec.properties.default as { items: ObjectSchema }).items;
  const crdSchemaOf = (name: string) => {
    const t = crdRequirementType(name);
    assert.ok(t, `${name} has no CRD module`);
    return t.schema;
  };
  const membersOf = (name: string) => crdSchemaOf(name).members.flatMap((m) => Object.keys(m.properties));

  it("each type's CRD module supplies its schema: the requirement object has exactly their members", () => {
    for (const name of registered) {
      const schema = crdSchemaOf(name);
      assert.ok(Array.isArray(schema.members) && Array.isArray(schema.rules), name);
    }
    const supplied = new Set(registered.flatMap(membersOf));
    assert.deepEqual(Object.keys(requirementSchema.properties).sort(), ['type', ...supplied].sort());
  });

  it("each type's CRD schema has the Data members of its key sources", () => {
    for (const name of registered) {
      const t = crdRequirementType(name)!;
      const members = Object.fromEntries(t.schema.members.flatMap((m) => Object.entries(m.properties)));
      const holders = [
        members,
        ...t.keySources.nested.map((n) => members[n]?.properties as ObjectSchema['properties']),
      ];
      for (const base of t.keySources.bases)
        assert.ok(
          holders.some((h) => `${base}Data` in h),
          `${name}: ${base}Data is in no member of its schema`,
        );
    }
  });

  it('the shared CRD schema (crd/schema.ts) names no requirement type and no member of one', () => {
    // Names the policy object has for its own members (status.conditions) are not a type's.
    const policyNames = new Set<string>();
    JSON.stringify(crd, (_key, value: unknown) => {
      if (isDeepStrictEqual(value, requirementSchema)) return undefined;
      if (typeof value === 'object' && value !== null && 'properties' in value)
        for (const n of Object.keys((value as ObjectSchema).properties)) policyNames.add(n);
      return value;
    });
    const typeNames = [...registered, ...registered.flatMap(membersOf)].filter((n) => !policyNames.has(n));
    const text = readFileSync(join(root, 'src/policy/crd/schema.ts'), 'utf8');
    const named = text.match(new RegExp(`\\b(${typeNames.join('|')})\\b`, 'g')) ?? [];
    assert.deepEqual([...new Set(named)], []);
  });

  it('only the registries and the signature barrel import a type module at run time', () => {
    const typeModule = (p: string) =>
      [imageSide, crdSide].some((d) => under(p, d) && !shared[d]!.some((s) => p === `${d}/${s}`));
    const inFolders = (p: string) =>
      under(p, imageSide) || under(p, crdSide) || p === 'src/image/signature/index.ts';
    assert.deepEqual(
      violations((i) => i.local && !i.typeOnly && typeModule(i.target) && !inFolders(i.file)),
      [],
    );
  });
});
