// Verifications per second for one cosign signature: key-signed (trust compiled once and cached,
// as the verifier does) and keyless (Fulcio certificate + Rekor SET, using the upstream fixture).
// skopeo cannot be measured on the same work here: Debian's skopeo 1.9.3 has sigstore disabled.
// Run: node_modules/.bin/node test/bench/sigstore.bench.ts   (from a layout with ../shared)
import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseDigest } from '../../src/image/digest.ts';
import {
  compileSigstoreTrust,
  SigstoreTrustCache,
  sigstoreSignerFromKey,
  verifySigstoreSignature,
} from '../../src/image/signature/sigstore/index.ts';
import { conformancePath } from '../helpers/conformance.ts';
import { parseSignatureBlob } from '../image/signature/sigstore/helpers.ts';

const readConformance = (p: string) => readFile(conformancePath(p));

async function measure(name: string, run: () => Promise<unknown>, seconds = 3): Promise<void> {
  for (let i = 0; i < 200; i++) await run();
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const start = performance.now();
  while (performance.now() < end) {
    await run();
    n++;
  }
  const rate = n / ((performance.now() - start) / 1000);
  console.log(`${name.padEnd(58)} ${rate.toFixed(0).padStart(7)} verifications/s`);
}

// Key-signed: a P-256 signature over a cosign payload.
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const digest = parseDigest(`sha256:${'ab'.repeat(32)}`);
const keySig = sigstoreSignerFromKey(privateKey).sign(digest, 'registry.example/bench/app:v1');
const keyInput = {
  keyData: Buffer.from(publicKey.export({ format: 'pem', type: 'spki' })).toString('base64'),
};
const keyExpect = { matchesManifestDigest: () => true, matchesDockerReference: () => true };
const cache = new SigstoreTrustCache(readConformance);

await measure('key-signed, trust cached (SigstoreTrustCache)', async () =>
  verifySigstoreSignature(await cache.get(keyInput), keySig, keyExpect),
);
await measure('key-signed, trust compiled every time', async () =>
  verifySigstoreSignature(await compileSigstoreTrust(keyInput, readConformance), keySig, keyExpect),
);

// Keyless: the upstream Fulcio + Rekor fixture (chain verified at the SET's integrated time).
const fulcioSig = parseSignatureBlob(
  await readConformance('containers-image/signature/fixtures/dir-img-cosign-fulcio-rekor-valid/signature-1'),
);
const fulcioInput = {
  fulcio: {
    caPath: 'containers-image/signature/fixtures/fulcio_v1.crt.pem',
    oidcIssuer: 'https://github.com/login/oauth',
    subjectEmail: 'mitr@redhat.com',
  },
  rekorPublicKeyPath: 'containers-image/signature/fixtures/rekor.pub',
};
await measure('keyless (Fulcio cert + chain + Rekor SET), trust cached', async () =>
  verifySigstoreSignature(await cache.get(fulcioInput), fulcioSig, keyExpect),
);
