import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Digest } from '../../digest.ts';
import { LocalTransportError } from '../../local/errors.ts';
import { MAX_MANIFEST_SIZE, MAX_SIGNATURE_SIZE, openBlobFile, readBounded } from '../../local/files.ts';
import { guessMIMEType } from '../../manifest/index.ts';
import type { BlobInfo, ImageSource, ManifestBytes, Signature } from '../../types.ts';
import { signatureFromBlob } from './signature-blob.ts';
import { type DirReference, digestFileName, manifestFileName, signatureFileName } from './transport.ts';

const MAX_SIGNATURES = 128;

export class DirImageSource implements ImageSource {
  readonly reference: DirReference;
  readonly hasThreadSafeGetBlob = true;

  constructor(reference: DirReference) {
    this.reference = reference;
  }

  async getManifest(instanceDigest?: Digest): Promise<ManifestBytes> {
    const path = join(this.reference.resolvedPath, manifestFileName(instanceDigest));
    const manifest = await readBounded(path, MAX_MANIFEST_SIZE, `reading manifest ${path}`);
    if (manifest === undefined) {
      throw new LocalTransportError('IMAGE_NOT_FOUND', `reading manifest ${path}: no such file`);
    }
    return { manifest, mimeType: guessMIMEType(manifest) };
  }

  getBlob(info: BlobInfo): Promise<{ stream: Readable; size: number }> {
    return openBlobFile(
      join(this.reference.resolvedPath, digestFileName(info.digest)),
      `reading blob ${info.digest} from dir:${this.reference.path}`,
    );
  }

  async getSignatures(instanceDigest?: Digest): Promise<Signature[]> {
    const out: Signature[] = [];
    for (let i = 0; i < MAX_SIGNATURES; i++) {
      const path = join(this.reference.resolvedPath, signatureFileName(i, instanceDigest));
      const blob = await readBounded(path, MAX_SIGNATURE_SIZE, `reading signature ${path}`);
      if (blob === undefined) return out;
      out.push(signatureFromBlob(blob));
    }
    throw new LocalTransportError(
      'TOO_LARGE',
      `dir:${this.reference.path}: more than ${MAX_SIGNATURES} signatures`,
    );
  }

  async close(): Promise<void> {}
}
