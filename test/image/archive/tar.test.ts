import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { extractTar, safeEntryPath } from '../../../src/image/archive/extract.ts';
import { packDirectory } from '../../../src/image/archive/pack.ts';
import { StreamTarInput, TarHeaderReader, TarWriter } from '../../../src/image/archive/tar.ts';
import { TarIndex } from '../../../src/image/archive/tar-index.ts';

const exec = promisify(execFile);
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tar-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A tar built entry by entry with our writer, for cases GNU tar refuses to create. */
async function writeTar(path: string, build: (t: TarWriter) => Promise<void>): Promise<void> {
  const out = createWriteStream(path);
  const tar = new TarWriter(out);
  await build(tar);
  await tar.finish();
}

describe('tar writer', () => {
  test('GNU tar lists and extracts what we write, long names included', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(130)}`;
    const path = join(dir, 'w.tar');
    await writeTar(path, async (t) => {
      await t.addDirectory('a');
      await t.addBytes('a/b.txt', Buffer.from('hello'));
      await t.addBytes(long, Buffer.from('long'));
      await t.addSymlink('a/link', 'b.txt');
    });
    const { stdout } = await exec('tar', ['tf', path]);
    assert.deepEqual(stdout.trim().split('\n'), ['a/', 'a/b.txt', long, 'a/link']);
    const out = join(dir, 'gnu-out');
    await mkdir(out);
    await exec('tar', ['xf', path, '-C', out]);
    assert.equal(await readFile(join(out, long), 'utf8'), 'long');
    assert.equal(await readlink(join(out, 'a/link')), 'b.txt');
  });

  test('a body shorter than announced fails with TAR_SIZE_MISMATCH', async () => {
    const out = createWriteStream(join(dir, 'short.tar'));
    const tar = new TarWriter(out);
    await assert.rejects(tar.addStream('x', 10, Readable.from([Buffer.from('abc')])), {
      code: 'TAR_SIZE_MISMATCH',
    });
    out.destroy();
  });
});

describe('tar reader', () => {
  test('reads archives made by GNU tar (ustar, pax long names)', async () => {
    const src = join(dir, 'gnu-src');
    const long = 'x'.repeat(150);
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub', long), 'payload');
    await writeFile(join(src, 'top'), 'top');
    const path = join(dir, 'gnu.tar');
    await exec('tar', ['--format=pax', '-cf', path, '-C', src, 'sub', 'top']);
    const reader = new TarHeaderReader(new StreamTarInput(createReadStream(path)));
    const seen: Record<string, string> = {};
    for (let e = await reader.next(); e !== undefined; e = await reader.next()) {
      if (e.type !== 'file') continue;
      const chunks: Buffer[] = [];
      for await (const c of reader.data(e)) chunks.push(c);
      seen[e.name] = Buffer.concat(chunks).toString();
    }
    assert.deepEqual(seen, { [`sub/${long}`]: 'payload', top: 'top' });
  });

  const corrupt: [string, (b: Buffer) => Buffer, string][] = [
    ['checksum', (b) => Buffer.concat([Buffer.from('X'), b.subarray(1)]), 'TAR_CORRUPT'],
    ['truncated data', (b) => b.subarray(0, 600), 'TAR_TRUNCATED'],
    ['empty input', () => Buffer.alloc(0), 'TAR_CORRUPT'],
  ];
  for (const [name, mutate, code] of corrupt) {
    test(`corrupt archive (${name}) fails with ${code}`, async () => {
      const path = join(dir, `c-${name}.tar`);
      await writeTar(path, (t) => t.addBytes('file', Buffer.alloc(2000, 1)));
      const bad = join(dir, `bad-${name}.tar`);
      await writeFile(bad, mutate(await readFile(path)));
      const target = await mkdtemp(join(dir, 'x-'));
      await assert.rejects(extractTar(createReadStream(bad), target), { code });
    });
  }

  test('the index serves members by offset and follows inward symlinks', async () => {
    const path = join(dir, 'idx.tar');
    await writeTar(path, async (t) => {
      await t.addBytes('layer.tar', Buffer.from('LAYER'));
      await t.addSymlink('id/layer.tar', '../layer.tar');
    });
    const index = await TarIndex.open(path);
    const entry = index.resolve('id/layer.tar');
    assert.ok(entry);
    assert.equal((await index.read(entry, 100)).toString(), 'LAYER');
  });
});

describe('safe extraction', () => {
  const unsafe: [string, (t: TarWriter) => Promise<void>][] = [
    ['../ escape', (t) => t.addBytes('../evil', Buffer.from('x'))],
    ['nested ../ escape', (t) => t.addBytes('a/../../evil', Buffer.from('x'))],
    ['absolute path', (t) => t.addBytes('/tmp/evil', Buffer.from('x'))],
    ['symlink pointing out', (t) => t.addSymlink('link', '../../outside')],
    ['absolute symlink', (t) => t.addSymlink('link', '/etc')],
  ];
  for (const [name, build] of unsafe) {
    test(`refuses ${name} with TAR_UNSAFE_PATH and writes nothing outside`, async () => {
      const path = join(dir, `unsafe-${name.replaceAll(/\W/g, '_')}.tar`);
      await writeTar(path, build);
      const parent = await mkdtemp(join(dir, 'p-'));
      const target = join(parent, 'root');
      await mkdir(target);
      await assert.rejects(extractTar(createReadStream(path), target), { code: 'TAR_UNSAFE_PATH' });
      await assert.rejects(readFile(join(parent, 'evil')), { code: 'ENOENT' });
    });
  }

  test('refuses to write through a symlinked directory that points out', async () => {
    const parent = await mkdtemp(join(dir, 'q-'));
    const target = join(parent, 'root');
    await mkdir(target);
    await mkdir(join(parent, 'outside'));
    await symlink('../outside', join(target, 'sub'));
    const path = join(dir, 'through.tar');
    await writeTar(path, (t) => t.addBytes('sub/evil', Buffer.from('x')));
    await assert.rejects(extractTar(createReadStream(path), target), { code: 'TAR_UNSAFE_PATH' });
    await assert.rejects(readFile(join(parent, 'outside', 'evil')), { code: 'ENOENT' });
  });

  test('normalizes harmless names', () => {
    assert.equal(safeEntryPath('./a//b/'), 'a/b');
    assert.equal(safeEntryPath('a/../b'), 'b');
  });

  test('pack then extract round-trips a directory tree', async () => {
    const src = join(dir, 'tree');
    await mkdir(join(src, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(src, 'blobs', 'sha256', 'abc'), 'blob');
    await writeFile(join(src, 'index.json'), '{}');
    const path = join(dir, 'tree.tar');
    await packDirectory(src, path);
    const out = await mkdtemp(join(dir, 'tree-out-'));
    await extractTar(createReadStream(path), out);
    assert.equal(await readFile(join(out, 'blobs', 'sha256', 'abc'), 'utf8'), 'blob');
    assert.equal(await readFile(join(out, 'index.json'), 'utf8'), '{}');
  });
});
