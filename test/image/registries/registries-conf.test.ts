import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseNormalizedNamed } from '../../../src/image/index.ts';
import { RegistriesError } from '../../../src/image/registries/errors.ts';
import {
  findRegistry,
  loadRegistriesConf,
  parseRegistriesConf,
  pullSources,
} from '../../../src/image/registries/registries-conf.ts';
import { parseToml } from '../../../src/image/registries/toml.ts';
import { conformancePath } from '../../helpers/conformance.ts';

const testdata = (f: string) =>
  readFileSync(conformancePath(`containers-image/pkg/sysregistriesv2/testdata/${f}`), 'utf8');

describe('TOML subset', () => {
  const valid: [string, unknown][] = [
    ['a = "x"\nb = true\nc = [1, 2]', { a: 'x', b: true, c: [1, 2] }],
    ["s = 'lit\\eral'", { s: 'lit\\eral' }],
    ['s = "tab\\tq\\"\\u00e9"', { s: 'tab\tq"é' }],
    ['[[r]]\nx = 1\n[[r.m]]\ny = 2\n[[r]]\nx = 3', { r: [{ x: 1, m: [{ y: 2 }] }, { x: 3 }] }],
    ['[t.u]\nk = "v" # comment\n', { t: { u: { k: 'v' } } }],
    ['a = [\n  "x", # c\n  "y",\n]', { a: ['x', 'y'] }],
    ['"quoted key" = 1', { 'quoted key': 1 }],
  ];
  for (const [input, want] of valid)
    it(`parses ${JSON.stringify(input)}`, () => assert.deepEqual(parseToml(input), want));
  const invalid = [
    'a = ',
    'a = "x" b = 1',
    'a = 1\na = 2',
    '[t]\n[t]',
    'a = 1.5',
    'a = {x = 1}',
    'a = """x"""',
    'a = "unterminated',
    '[t',
    'a = [1, 2',
  ];
  for (const input of invalid) {
    it(`rejects ${JSON.stringify(input)}`, () =>
      assert.throws(() => parseToml(input), { code: 'TOML_INVALID' }));
  }
  const located: [string, string, RegExp][] = [
    [
      'an inline table',
      '[[registry]]\nlocation = "a"\nmirror = [{ location = "b" }]',
      /: line 3: inline table/,
    ],
    ['a multi-line string', '# "{\nprefix = \'{\'\nlocation = """x"""', /: line 3: multi-line string/],
    ['a float', '[[registry]]\n[[registry]]\ninsecure = 1.0', /: registry\[1\]\.insecure: float/],
    ['a date', '[aliases]\n"a.b" = 1979-05-27', /: aliases\."a\.b": date/],
    ['an integer beyond 2^53', 'x = [1, 9007199254740993]', /: x\[1\]: integer out of range/],
    ['a syntax error', 'a = 1\nb = "open', /: line 2, column 5: /],
  ];
  for (const [name, input, where] of located) {
    it(`says where it refuses ${name}`, () =>
      assert.throws(() => parseToml(input), { code: 'TOML_INVALID', message: where }));
  }
  it('keeps a key named __proto__ as a key', () => {
    const doc = parseToml('[aliases]\n__proto__ = "x"');
    assert.deepEqual(Object.keys(doc.aliases as object), ['__proto__']);
  });
});

describe('registries.conf upstream fixtures', () => {
  const table: [string, boolean][] = [
    ['aliases.conf', true],
    ['base-for-registries.d.conf', true],
    ['blocked-conflicts.conf', false],
    ['cred-helper.conf', true],
    ['empty.conf', true],
    ['find-registry.conf', true],
    ['insecure-conflicts.conf', false],
    ['invalid-aliases.conf', false],
    ['invalid-config-level-mirror.conf', false],
    ['invalid-conflict-mirror.conf', false],
    ['invalid-prefix.conf', false],
    ['invalid-search.conf', false],
    ['invalid-short-name-mode.conf', false],
    ['invalid-value-mirror.conf', false],
    ['mirrors.conf', true],
    ['missing-mirror-location.conf', false],
    ['mixing-v1-v2-empty.conf', true],
    ['mixing-v1-v2.conf', false],
    ['pull-sources-from-reference.conf', true],
    ['try-update-cache-invalid.conf', false],
    ['try-update-cache-valid.conf', true],
    ['unmarshal.conf', true],
    ['unqualified-search.conf', true],
    ['v1-compatibility.conf', true],
    ['v1-invalid-block.conf', false],
    ['v1-invalid-insecure.conf', false],
    ['v1-invalid-search.conf', false],
  ];
  for (const [file, ok] of table) {
    it(`${file} ${ok ? 'parses' : 'is rejected'}`, () => {
      if (ok) parseRegistriesConf(testdata(file), file);
      else
        assert.throws(
          () => parseRegistriesConf(testdata(file), file),
          (e: unknown) => e instanceof RegistriesError,
        );
    });
  }
});

describe('registry lookup and pull sources', () => {
  const find = parseRegistriesConf(testdata('find-registry.conf'));
  const lookups: [string, string | undefined][] = [
    ['simple-prefix.com/foo/bar', 'simple-prefix.com'],
    ['complex-prefix.com:4000/with/path/and/beyond', 'complex-prefix.com:4000/with/path'],
    ['no-prefix.com/x', 'no-prefix.com'],
    ['a.so.simple-prefix.com/x', '*.so.simple-prefix.com'],
    ['b.simple-prefix.com/x', '*.simple-prefix.com'],
    ['simple-prefix.com.evil/x', undefined],
  ];
  for (const [name, prefix] of lookups) {
    it(`${name} uses [[registry]] ${prefix ?? '(none)'}`, () =>
      assert.equal(findRegistry(find, name)?.prefix, prefix));
  }

  const conf = parseRegistriesConf(testdata('pull-sources-from-reference.conf'));
  const d = `sha256:${'a'.repeat(64)}`;
  const cases: [string, string[]][] = [
    [
      'registry-a.com/foo/image:latest',
      [
        'mirror-1.registry-a.com/image:latest',
        'mirror-2.registry-a.com/image:latest',
        'registry-a.com/bar/image:latest',
      ],
    ],
    ['registry-b.com/foo/image:latest', ['registry-b.com/bar/image:latest']],
    [
      `registry-b.com/foo/image@${d}`,
      [
        `mirror-1.registry-b.com/image@${d}`,
        `mirror-2.registry-b.com/image@${d}`,
        `registry-b.com/bar/image@${d}`,
      ],
    ],
    [
      'registry-c.com/baz/image:latest',
      ['mirror-1.registry-c.com/image:latest', 'registry-c.com/bar/image:latest'],
    ],
    ['unrelated.com/image:latest', ['unrelated.com/image:latest']],
  ];
  for (const [input, want] of cases) {
    it(`pulls ${input} from ${want.join(', ')}`, () => {
      assert.deepEqual(
        pullSources(conf, parseNormalizedNamed(input)).map((s) => s.reference.toString()),
        want,
      );
    });
  }
  it('marks insecure mirrors', () => {
    const sources = pullSources(conf, parseNormalizedNamed('registry-a.com/foo/image:latest'));
    assert.deepEqual(
      sources.map((s) => s.insecure),
      [false, true, false],
    );
  });
  it('refuses a blocked registry with REGISTRY_BLOCKED', () => {
    const blocked = parseRegistriesConf('[[registry]]\nlocation = "blocked.example.com"\nblocked = true\n');
    assert.throws(() => pullSources(blocked, parseNormalizedNamed('blocked.example.com/x:1')), {
      code: 'REGISTRY_BLOCKED',
    });
  });
});

describe('registries.conf.d drop-ins', () => {
  const dir = conformancePath('containers-image/pkg/sysregistriesv2/testdata');
  const load = () =>
    loadRegistriesConf({
      explicitPath: `${dir}/base-for-registries.d.conf`,
      env: {},
      home: '/nonexistent',
      dropInDirs: [`${dir}/registries.conf.d`],
    });

  it('applies *.conf files in name order and ignores other names', async () => {
    const conf = await load();
    assert.deepEqual(conf.unqualifiedSearchRegistries, ['example-overwrite.com']);
    assert.deepEqual(conf.credentialHelpers, ['dropin-1', 'dropin-2']);
    assert.equal(conf.shortNameMode, 'permissive');
    assert.ok(!conf.registries.some((r) => r.prefix.startsWith('ignore-me')));
  });

  it('replaces a registry with the same prefix instead of merging its fields', async () => {
    const base = (await load()).registries.find((r) => r.prefix === 'base.com');
    assert.deepEqual(
      { insecure: base?.insecure, blocked: base?.blocked },
      { insecure: false, blocked: true },
    );
  });

  it('merges aliases; an empty alias removes one', async () => {
    const { aliases } = await load();
    assert.equal(aliases.barz?.value, 'barz.com/config2');
    assert.match(aliases.barz?.origin ?? '', /config-2\.conf$/);
    assert.equal(aliases.config1?.value, 'config1.com/image');
    assert.equal(aliases.added3?.value, 'xxx.com/image');
    assert.equal(Object.hasOwn(aliases, 'example'), false);
  });

  it('a user registries.conf replaces the system file and the system drop-ins, as upstream', async () => {
    const home = await mkdtemp(join(tmpdir(), 'portcullis-home-'));
    try {
      await mkdir(join(home, '.config/containers/registries.conf.d'), { recursive: true });
      await writeFile(
        join(home, '.config/containers/registries.conf'),
        'unqualified-search-registries = ["a.example"]\n',
      );
      await writeFile(
        join(home, '.config/containers/registries.conf.d/1.conf'),
        '[aliases]\nx = "b.example/x"\n',
      );
      const conf = await loadRegistriesConf({ env: {}, home });
      assert.deepEqual(conf.files, [
        join(home, '.config/containers/registries.conf'),
        join(home, '.config/containers/registries.conf.d/1.conf'),
      ]);
      assert.equal(conf.unqualifiedSearchRegistriesOrigin, join(home, '.config/containers/registries.conf'));
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('refuses a v1 [registries.*] table in a drop-in', async () => {
    const d = await mkdtemp(join(tmpdir(), 'portcullis-dropin-'));
    try {
      await writeFile(join(d, 'main.conf'), '');
      await mkdir(join(d, 'd'));
      await writeFile(join(d, 'd', 'v1.conf'), '[registries.search]\nregistries = ["a.example"]\n');
      await assert.rejects(
        loadRegistriesConf({ explicitPath: join(d, 'main.conf'), env: {}, dropInDirs: [join(d, 'd')] }),
        { code: 'REGISTRIES_CONF_INVALID' },
      );
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it('a missing explicit file is an error, a missing default is empty', async () => {
    await assert.rejects(loadRegistriesConf({ explicitPath: `${dir}/nope.conf`, env: {}, dropInDirs: [] }), {
      code: 'REGISTRIES_CONF_INVALID',
    });
    const empty = await loadRegistriesConf({ env: {}, home: '/nonexistent', dropInDirs: [] });
    assert.deepEqual(empty.credentialHelpers, ['containers-auth.json']);
  });
});
