// Short-name resolution against upstream's pkg/shortnames tables and fixtures.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  loadRegistriesConf,
  type RegistriesConf,
  type ShortNameMode,
} from '../../../src/image/registries/registries-conf.ts';
import { isShortName, resolveShortName } from '../../../src/image/registries/short-names.ts';
import { conformancePath } from '../../helpers/conformance.ts';

const shortnames = (f: string) => conformancePath(`containers-image/pkg/shortnames/testdata/${f}`);
const sysregistries = (f: string) => conformancePath(`containers-image/pkg/sysregistriesv2/testdata/${f}`);
const digest = '@sha256:d366a4665ab44f0648d7a00ae3fae139d55e32f9712c67accd604bb55df9d05a';

function load(path: string, dropInDirs: string[] = []): Promise<RegistriesConf> {
  return loadRegistriesConf({ explicitPath: path, env: {}, home: '/nonexistent', dropInDirs });
}

/** Every candidate as a string, whatever the kind of resolution. */
function candidates(conf: RegistriesConf, input: string): string[] {
  const r = resolveShortName(conf, input);
  return (r.kind === 'search' ? r.candidates : [r.reference]).map((c) => c.toString());
}

describe('short names: upstream TestIsShortName', () => {
  const table: [string, boolean | 'error'][] = [
    ['fedora', true],
    ['fedora:latest', true],
    ['library/fedora', true],
    ['library/fedora:latest', true],
    [`busybox${digest}`, true],
    [`busybox:latest${digest}`, true],
    ['quay.io/fedora', false],
    ['docker.io/fedora', false],
    ['docker.io/library/fedora:latest', false],
    ['localhost/fedora', false],
    ['localhost:5000/fedora:latest', false],
    ['example.foo.this.may.be.garbage.but.maybe.not:1234/fedora:latest', false],
    [`docker.io/library/busybox${digest}`, false],
    [`docker.io/library/busybox:latest${digest}`, false],
    [`docker.io/fedora${digest}`, false],
    ['', 'error'],
    ['$$$', 'error'],
    ['::', 'error'],
    ['docker://quay.io/library/foo:bar', 'error'],
    [' ', 'error'],
  ];
  for (const [input, want] of table) {
    it(`${JSON.stringify(input)}: ${want}`, () => {
      if (want === 'error') assert.throws(() => isShortName(input));
      else assert.equal(isShortName(input), want);
    });
  }
});

describe('short names: upstream TestResolve (aliases.conf, enforcing)', () => {
  const table: [string, string][] = [
    ['docker', 'docker.io/library/foo:latest'],
    ['docker:tag', 'docker.io/library/foo:tag'],
    [`docker${digest}`, `docker.io/library/foo${digest}`],
    ['quay/foo', 'quay.io/library/foo:latest'],
    ['quay/foo:tag', 'quay.io/library/foo:tag'],
    [`quay/foo${digest}`, `quay.io/library/foo${digest}`],
    ['example', 'example.com/library/foo:latest'],
    ['example:tag', 'example.com/library/foo:tag'],
    [`example${digest}`, `example.com/library/foo${digest}`],
    ['registry.com/repo/image', 'registry.com/repo/image:latest'],
    ['registry.com/repo/image:tag', 'registry.com/repo/image:tag'],
    [`registry.com/repo/image${digest}`, `registry.com/repo/image${digest}`],
    ['localhost/repo/fedora:sometag', 'localhost/repo/fedora:sometag'],
    ['docker.io/fedora', 'docker.io/library/fedora:latest'],
  ];
  for (const [input, want] of table) {
    it(`${input} -> ${want}`, async () => {
      assert.deepEqual(candidates(await load(shortnames('aliases.conf')), input), [want]);
    });
  }

  it('names the file that defines the alias', async () => {
    const r = resolveShortName(await load(shortnames('aliases.conf')), 'docker');
    assert.equal(r.kind, 'alias');
    assert.equal(r.kind === 'alias' && r.origin, shortnames('aliases.conf'));
  });

  const bad: [string, string][] = [
    ['doesnotexist', 'SHORT_NAME_UNRESOLVED'],
    // `empty = ""` defines no alias
    ['empty', 'SHORT_NAME_UNRESOLVED'],
    ['', 'NAME_EMPTY'],
    // a name of an Object.prototype member is a short name like any other
    ['constructor', 'SHORT_NAME_UNRESOLVED'],
    ['Invalid#$', 'REFERENCE_INVALID_FORMAT'],
  ];
  for (const [input, code] of bad) {
    it(`${JSON.stringify(input)} fails with ${code}`, async () => {
      const conf = await load(shortnames('aliases.conf'));
      assert.throws(() => resolveShortName(conf, input), { code });
    });
  }
});

describe('short names: upstream TestResolveWithDropInConfigs', () => {
  const table: [string, string][] = [
    ['docker', 'docker.io/library/config1:latest'],
    ['quay/foo:tag', 'quay.io/library/foo:tag'],
    [`config1${digest}`, `config1.com/image${digest}`],
    ['barz', 'barz.com/config2:latest'],
    ['doesnotexist', 'example-overwrite.com/doesnotexist:latest'],
  ];
  for (const [input, want] of table) {
    it(`${input} -> ${want}`, async () => {
      const conf = await load(shortnames('aliases.conf'), [sysregistries('registries.conf.d')]);
      assert.deepEqual(candidates(conf, input), [want]);
    });
  }
});

describe('short names: upstream TestResolveWithVaryingShortNameModes', () => {
  // [file, mode, input, candidates or the error code]
  const table: [string, ShortNameMode, string, number | string][] = [];
  for (const mode of ['permissive', 'disabled', 'enforcing'] as const) {
    table.push(
      ['no-reg.conf', mode, 'repo/image', 1],
      ['one-reg.conf', mode, 'repo/image', 1],
      ['two-reg.conf', mode, 'repo/image', 1],
      ['no-reg.conf', mode, 'doesnotexist', 'SHORT_NAME_UNRESOLVED'],
      ['one-reg.conf', mode, 'doesnotexist', 1],
      ['two-reg.conf', mode, 'doesnotexist', mode === 'enforcing' ? 'SHORT_NAME_AMBIGUOUS' : 2],
    );
  }
  for (const [file, mode, input, want] of table) {
    it(`${file} ${mode} ${input}: ${want}`, async () => {
      const conf = { ...(await load(shortnames(file))), shortNameMode: mode };
      if (typeof want === 'string') assert.throws(() => resolveShortName(conf, input), { code: want });
      else assert.equal(candidates(conf, input).length, want);
    });
  }

  it('search candidates keep the registries.conf order', async () => {
    const conf = await load(shortnames('two-reg.conf'));
    assert.deepEqual(candidates(conf, 'doesnotexist:1'), [
      'quay.io/doesnotexist:1',
      'registry.com/doesnotexist:1',
    ]);
  });

  it('without short-name-mode behaves as permissive', async () => {
    const r = resolveShortName(await load(shortnames('two-reg.conf')), 'x');
    assert.equal(r.kind === 'search' && r.mode, 'permissive');
  });
});
