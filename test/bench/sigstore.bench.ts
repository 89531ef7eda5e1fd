// Verifications per second for cosign signatures: key-signed (trust compiled once and cached, as
// the verifier does; the same signature again, and distinct signatures that miss every memo) and
// keyless (Fulcio certificate + chain + Rekor SET, the upstream fixture).
// skopeo cannot be measured on the same work here: Debian's skopeo 1.9.3 has sigstore disabled.
// Run: node_modules/.bin/node test/bench/sigstore.bench.ts
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDigest } from '../../src/image/digest.ts';
import {
  compileSigstoreTrust,
  SigstoreTrustCache,
  sigstoreSignerFromKey,
  verifySigstoreSignature,
} from '../../src/image/signature/sigstore/index.ts';
import { buildSigstorePayload } from '../../src/image/signature/sigstore/payload.ts';
import { conformancePath } from '../helpers/conformance.ts';
import { parseSignatureBlob } from '../image/signature/sigstore/helpers.ts';
import {
  ANNOTATION_BUNDLE,
  ANNOTATION_CERTIFICATE,
  ANNOTATION_CHAIN,
  ANNOTATION_SIGNATURE,
  CA_EXTENSIONS,
  FULCIO_ISSUER,
  fulcioLeafExtensions,
  issue,
  makeSet,
  newRekorKey,
  signedAttachment,
} from '../image/signature/sigstore/pki.ts';

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
  console.log(`${name.padEnd(66)} ${rate.toFixed(0).padStart(7)} verifications/s`);
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

await measure('key-signed, same signature again (trust + outcome memoized)', async () =>
  verifySigstoreSignature(await cache.get(keyInput), keySig, keyExpect),
);
// Distinct signatures, more than the verification memo holds: every verification is a cold one.
const signer = sigstoreSignerFromKey(privateKey);
const fresh = Array.from({ length: 10_000 }, (_, i) =>
  signer.sign(parseDigest(`sha256:${i.toString(16).padStart(64, '0')}`), 'registry.example/bench/app:v1'),
);
let next = 0;
await measure('key-signed, trust cached, a different signature each time', async () =>
  verifySigstoreSignature(await cache.get(keyInput), fresh[next++ % fresh.length]!, keyExpect),
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
await measure('keyless (Fulcio cert + chain + Rekor SET), same signature again', async () =>
  verifySigstoreSignature(await cache.get(fulcioInput), fulcioSig, keyExpect),
);

// Keyless with a CA made here: distinct payloads and SETs under one signer identity, so parsing and
// chain checks are warm but every signature and SET verification is cold.
const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-'));
try {
  const root = await issue(dir, 'root', CA_EXTENSIONS, { days: 30 });
  const inter = await issue(
    dir,
    'inter',
    ['basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign'],
    {
      issuer: root,
      days: 30,
    },
  );
  const leaf = await issue(
    dir,
    'leaf',
    fulcioLeafExtensions({ email: 'ci@example.com', issuerV2: FULCIO_ISSUER }),
    {
      issuer: inter,
      days: 30,
    },
  );
  const rekor = newRekorKey();
  const integratedTime = Math.floor(Date.now() / 1000);
  const keyless = Array.from({ length: 10_000 }, (_, i) => {
    const payload = buildSigstorePayload(
      parseDigest(`sha256:${i.toString(16).padStart(64, '0')}`),
      'registry.example/bench/app',
      null,
    );
    const signatureBase64 = sign('sha256', payload, leaf.key).toString('base64');
    const set = makeSet(rekor.privateKey, {
      signerPem: leaf.certPem,
      signatureBase64,
      payloadSha256: createHash('sha256').update(payload).digest('hex'),
      integratedTime,
    });
    return signedAttachment(leaf.key, payload, {
      [ANNOTATION_SIGNATURE]: signatureBase64,
      [ANNOTATION_CERTIFICATE]: leaf.certPem,
      [ANNOTATION_CHAIN]: inter.certPem + root.certPem,
      [ANNOTATION_BUNDLE]: set,
    });
  });
  const input = {
    fulcio: {
      caData: Buffer.from(root.certPem).toString('base64'),
      oidcIssuer: FULCIO_ISSUER,
      subjectEmail: 'ci@example.com',
    },
    rekorPublicKeyData: Buffer.from(rekor.publicKeyPem).toString('base64'),
  };
  let k = 0;
  await measure('keyless (own CA), a different signature and SET each time', async () =>
    verifySigstoreSignature(await cache.get(input), keyless[k++ % keyless.length]!, keyExpect),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
