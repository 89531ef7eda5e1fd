// The parts of the SIF container format (sylabs/sif v2) needed to import an image: the header,
// the descriptor table, the primary system partition and the definition file.
import type { FileHandle } from 'node:fs/promises';
import { LocalTransportError } from '../../local/errors.ts';

const HEADER_SIZE = 128;
const DESCRIPTOR_SIZE = 585;
const MAX_DESCRIPTORS = 4096;
const DATA_DEFFILE = 0x4001;
const DATA_PARTITION = 0x4004;
const PART_PRIMSYS = 2;
const FS_SQUASH = 1;

const sifArch: Record<string, string> = {
  '01': '386',
  '02': 'amd64',
  '03': 'arm',
  '04': 'arm64',
  '05': 'ppc64',
  '06': 'ppc64le',
  '07': 'mips',
  '08': 'mipsle',
  '09': 'mips64',
  '10': 'mips64le',
  '11': 's390x',
  '12': 'riscv64',
};

export interface SifObject {
  readonly dataType: number;
  readonly offset: number;
  readonly size: number;
  readonly extra: Buffer;
}

export interface SifImage {
  readonly id: string;
  readonly modifiedAt: number;
  readonly primaryArch: string;
  readonly rootfs: SifObject;
  readonly deffile?: SifObject;
}

function cstr(b: Buffer): string {
  const end = b.indexOf(0);
  return b.toString('ascii', 0, end < 0 ? b.length : end);
}

function int64(b: Buffer, at: number): number {
  const v = b.readBigInt64LE(at);
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER))
    throw new LocalTransportError('CORRUPT_IMAGE', 'sif: invalid offset');
  return Number(v);
}

export async function readSifImage(file: FileHandle, what: string): Promise<SifImage> {
  const { size: fileSize } = await file.stat();
  const header = Buffer.alloc(HEADER_SIZE);
  await file.read(header, 0, HEADER_SIZE, 0);
  if (cstr(header.subarray(32, 42)) !== 'SIF_MAGIC') {
    throw new LocalTransportError('CORRUPT_IMAGE', `${what}: not a SIF file (bad magic)`);
  }
  const hex = header.subarray(48, 64).toString('hex');
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const modifiedAt = int64(header, 72);
  const total = int64(header, 88);
  const descriptorsOffset = int64(header, 96);
  if (total > MAX_DESCRIPTORS || descriptorsOffset + total * DESCRIPTOR_SIZE > fileSize) {
    throw new LocalTransportError('CORRUPT_IMAGE', `${what}: descriptor table out of bounds`);
  }
  const table = Buffer.alloc(total * DESCRIPTOR_SIZE);
  await file.read(table, 0, table.length, descriptorsOffset);
  let rootfs: SifObject | undefined;
  let deffile: SifObject | undefined;
  let primaryArch = '';
  for (let i = 0; i < total; i++) {
    const d = table.subarray(i * DESCRIPTOR_SIZE, (i + 1) * DESCRIPTOR_SIZE);
    if (d[4] === 0) continue;
    const object: SifObject = {
      dataType: d.readInt32LE(0),
      offset: int64(d, 17),
      size: int64(d, 25),
      extra: d.subarray(201, 585),
    };
    if (object.offset + object.size > fileSize) {
      throw new LocalTransportError('CORRUPT_IMAGE', `${what}: object ${i} extends past the end of the file`);
    }
    if (object.dataType === DATA_DEFFILE && deffile === undefined) deffile = object;
    if (
      object.dataType === DATA_PARTITION &&
      object.extra.readInt32LE(4) === PART_PRIMSYS &&
      rootfs === undefined
    ) {
      if (object.extra.readInt32LE(0) !== FS_SQUASH) {
        throw new LocalTransportError('NOT_SUPPORTED', `${what}: the primary partition is not SquashFS`);
      }
      rootfs = object;
      primaryArch = sifArch[cstr(object.extra.subarray(8, 11))] ?? 'unknown';
    }
  }
  if (rootfs === undefined) {
    throw new LocalTransportError(
      'CORRUPT_IMAGE',
      `${what}: looking up rootfs from SIF file: no primary system partition`,
    );
  }
  return { id, modifiedAt, primaryArch, rootfs, ...(deffile !== undefined ? { deffile } : {}) };
}

/** Upstream parseDefFile: the %environment and %runscript sections of a definition file. */
export function parseDefFile(text: string): { environment: string[]; runscript: string[] } {
  const environment: string[] = [];
  const runscript: string[] = [];
  let state: 'other' | 'environment' | 'runscript' = 'other';
  for (const raw of text.split('\n')) {
    const s = raw.trim();
    if (s === '%environment') state = 'environment';
    else if (s === '%runscript') state = 'runscript';
    else if (s.startsWith('%')) state = 'other';
    else if (state === 'environment' && s !== '' && !s.startsWith('#')) environment.push(s);
    else if (state === 'runscript') runscript.push(s);
  }
  return { environment, runscript };
}
