// Images made up on reading (sif:, tarball:): one manifest over an in-memory config and layer
// files, served as they are; read-only references.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { type Digest, digestOf } from '../../../src/image/digest.ts';
import { SynthesizedImageSource } from '../../../src/image/local/synthesized.ts';
import { OCI_MANIFEST_MEDIA_TYPE } from '../../../src/image/manifest/index.ts';
import { tarballTransport } from '../../../src/image/transports/tarball/transport.ts';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'portcullis-synth-'));
});
after(() => rm(work, { recursive: true, force: true }));

describe('SynthesizedImageSource', () => {
  const reference = tarballTransport.parseReference('/nowhere.tar');
  async function source(cleanup?: () => Promise<void>) {
    const layers = await Promise.all(
      ['one', 'two'].map(async (name) => {
        const path = join(work, name);
        await writeFile(path, `layer ${name}`);
        return {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: digestOf(Buffer.from(`layer ${name}`)),
          size: 9,
          path,
        };
      }),
    );
    const config = Buffer.from('{"os":"linux"}');
    return {
      src: new SynthesizedImageSource({
        reference,
        config,
        layers,
        threadSafe: false,
        ...(cleanup ? { cleanup } : {}),
      }),
      layers,
      config,
    };
  }

  it('lists the config and every layer, in order, in one OCI manifest', async () => {
    const { src, layers, config } = await source();
    const m = await src.getManifest();
    assert.equal(m.mimeType, OCI_MANIFEST_MEDIA_TYPE);
    const parsed = JSON.parse(m.manifest.toString()) as {
      config: { digest: Digest; size: number };
      layers: { digest: Digest }[];
    };
    assert.deepEqual(parsed.config, {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: digestOf(config),
      size: config.length,
    });
    assert.deepEqual(
      parsed.layers.map((l) => l.digest),
      layers.map((l) => l.digest),
    );
  });

  it('serves the config from memory and each layer from its file', async () => {
    const { src, layers, config } = await source();
    assert.equal(
      await text((await src.getBlob({ digest: digestOf(config), size: -1 })).stream),
      '{"os":"linux"}',
    );
    assert.equal(
      await text((await src.getBlob({ digest: layers[1]!.digest, size: -1 })).stream),
      'layer two',
    );
  });

  it('refuses blobs it does not have, instances and nothing else; no signatures', async () => {
    const { src, config } = await source();
    await assert.rejects(src.getBlob({ digest: digestOf(Buffer.from('other')), size: -1 }), {
      code: 'BLOB_NOT_FOUND',
    });
    await assert.rejects(src.getManifest(digestOf(config)), { code: 'LISTS_NOT_SUPPORTED' });
    assert.deepEqual(await src.getSignatures(), []);
  });

  it('close() removes what reading made', async () => {
    let cleaned = 0;
    const { src } = await source(async () => {
      cleaned++;
    });
    await src.close();
    assert.equal(cleaned, 1);
  });

  it('its references are read-only and name no docker image', async () => {
    assert.equal(reference.dockerReference(), undefined);
    await assert.rejects(reference.newImageDestination({}), { code: 'READ_ONLY' });
    await assert.rejects(reference.deleteImage({}), { code: 'NOT_SUPPORTED' });
  });
});
