// A failed blob copy cancels its siblings: the copy fails as soon as one blob does, the streams
// of the others are ended, and nothing is retried after the failure.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { copyImage } from '../../../src/image/copy/index.ts';
import { defaultTransportRegistry } from '../../../src/image/transports/all.ts';
import type { ImageReference, ImageSource } from '../../../src/image/types.ts';
import { syntheticImage, writeOciLayout } from '../../helpers/images.ts';

const transports = await defaultTransportRegistry();
const ref = (name: string): ImageReference => transports.parseImageName(name);
let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'portcullis-copy-cancel-'));
});
after(() => rm(root, { recursive: true, force: true }));

test('a failed blob ends the streams of the blobs in flight, and the copy fails with its error', async () => {
  const layout = join(root, 'src');
  await writeOciLayout(layout, { v1: syntheticImage({ layers: 3 }) });
  const inner = ref(`oci:${layout}:v1`);
  const hanging: PassThrough[] = [];
  let getBlobCalls = 0;
  const wrapped: ImageReference = Object.create(inner, {
    newImageSource: {
      value: async (c: object): Promise<ImageSource> => {
        const src = await inner.newImageSource(c);
        return {
          reference: wrapped,
          hasThreadSafeGetBlob: true,
          getManifest: (d) => src.getManifest(d),
          getSignatures: (d) => src.getSignatures(d),
          close: () => src.close(),
          async getBlob() {
            // Two streams that never end, then a permanent failure.
            if (++getBlobCalls <= 2) {
              const stream = new PassThrough();
              hanging.push(stream);
              return { stream, size: -1 };
            }
            await new Promise((r) => setTimeout(r, 50));
            throw Object.assign(new Error('no such blob here'), { code: 'BLOB_GONE' });
          },
        };
      },
    },
  });
  const copy = copyImage(ref(`dir:${join(root, 'dest')}`), wrapped, { parallelCopies: 3, retryTimes: 3 });
  // Without cancellation the copy waits for the hanging streams forever.
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('the copy waited for its hanging siblings')), 30_000);
  });
  try {
    await assert.rejects(Promise.race([copy, hung]), { message: /no such blob here/ });
  } finally {
    clearTimeout(timer);
  }
  assert.equal(hanging.length, 2);
  for (const s of hanging) assert.ok(s.destroyed, 'a sibling stream was left open');
  assert.equal(getBlobCalls, 3, 'nothing was retried or started after the failure');
});
