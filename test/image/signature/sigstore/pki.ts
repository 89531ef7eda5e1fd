// Trust roots the tests make themselves: an openssl CA hierarchy issuing Fulcio-like or PKI leaf
// certificates, and a Rekor-like ECDSA key that signs SETs for whatever entry a test needs.
import { execFile } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Digest } from '../../../../src/image/digest.ts';
import { canonicalJson, type JsonObject } from '../../../../src/image/signature/sigstore/json.ts';
import { SIMPLE_SIGNING_MEDIA_TYPE } from '../../../../src/image/signature/sigstore/payload.ts';
import { sigstoreSignerFromKey } from '../../../../src/image/signature/sigstore/signer.ts';
import {
  ANNOTATION_BUNDLE,
  ANNOTATION_CERTIFICATE,
  ANNOTATION_CHAIN,
  ANNOTATION_SIGNATURE,
} from '../../../../src/image/signature/sigstore/verify.ts';
import type { Signature } from '../../../../src/image/types.ts';

const run = promisify(execFile);
const openssl = (args: string[]) => run('openssl', args);
let serial = 1000;

export interface Issued {
  readonly certPem: string;
  readonly keyPem: string;
  readonly key: KeyObject;
  readonly path: string;
  readonly keyPath: string;
}

/** Issues a certificate with `extensions` (openssl v3 config lines); self-signed without `issuer`. */
export async function issue(
  dir: string,
  name: string,
  extensions: readonly string[],
  options: { issuer?: Issued; days?: number; curve?: string } = {},
): Promise<Issued> {
  const keyPath = join(dir, `${name}.key`);
  const path = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.cnf`);
  await writeFile(ext, `[v3]\n${extensions.join('\n')}\n`);
  await openssl(['ecparam', '-name', options.curve ?? 'prime256v1', '-genkey', '-noout', '-out', keyPath]);
  const days = String(options.days ?? 30);
  if (options.issuer === undefined) {
    await openssl(
      [
        'req',
        '-new',
        '-x509',
        '-key',
        keyPath,
        '-subj',
        `/O=portcullis test/CN=${name}`,
        '-days',
        days,
      ].concat(['-config', ext, '-extensions', 'v3', '-out', path, '-set_serial', String(serial++)]),
    );
  } else {
    const csr = join(dir, `${name}.csr`);
    await openssl(['req', '-new', '-key', keyPath, '-subj', `/O=portcullis test/CN=${name}`, '-out', csr]);
    await openssl(
      ['x509', '-req', '-in', csr, '-CA', options.issuer.path, '-CAkey', options.issuer.keyPath].concat([
        '-days',
        days,
        '-extfile',
        ext,
        '-extensions',
        'v3',
        '-out',
        path,
        '-set_serial',
        String(serial++),
      ]),
    );
  }
  const keyPem = await readFile(keyPath, 'utf8');
  return { certPem: await readFile(path, 'utf8'), keyPem, key: createPrivateKey(keyPem), path, keyPath };
}

export const CA_EXTENSIONS = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
export const FULCIO_ISSUER = 'https://token.actions.githubusercontent.com';
export const WORKFLOW_URI = 'https://github.com/example/app/.github/workflows/release.yml@refs/heads/main';

/** Fulcio-style leaf extensions; `issuerV1`/`issuerV2` set the two OIDC issuer extensions. */
export function fulcioLeafExtensions(options: {
  email?: string;
  uri?: string;
  issuerV1?: string;
  issuerV2?: string;
  eku?: string;
  extra?: string[];
}): string[] {
  const san = [options.email && `email:${options.email}`, options.uri && `URI:${options.uri}`].filter(
    Boolean,
  );
  return [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    `extendedKeyUsage=${options.eku ?? 'codeSigning'}`,
    ...(san.length ? [`subjectAltName=critical,${san.join(',')}`] : []),
    ...(options.issuerV1
      ? [`1.3.6.1.4.1.57264.1.1=DER:${Buffer.from(options.issuerV1).toString('hex')}`]
      : []),
    ...(options.issuerV2 ? [`1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:${options.issuerV2}`] : []),
    ...(options.extra ?? []),
  ];
}

export function newRekorKey(): { privateKey: KeyObject; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

export interface SetEntry {
  readonly signerPem: string;
  readonly signatureBase64: string;
  readonly payloadSha256: string;
  readonly integratedTime: number;
  readonly kind?: string;
  readonly apiVersion?: string;
  readonly hashAlgorithm?: string;
}

/** A Rekor SET (the dev.sigstore.cosign/bundle annotation) signed by `rekorKey`. */
export function makeSet(rekorKey: KeyObject, e: SetEntry): string {
  const body = {
    apiVersion: e.apiVersion ?? '0.0.1',
    kind: e.kind ?? 'hashedrekord',
    spec: {
      data: { hash: { algorithm: e.hashAlgorithm ?? 'sha256', value: e.payloadSha256 } },
      signature: {
        content: e.signatureBase64,
        publicKey: { content: Buffer.from(e.signerPem).toString('base64') },
      },
    },
  };
  const payload: JsonObject = {
    body: Buffer.from(JSON.stringify(body)).toString('base64'),
    integratedTime: e.integratedTime,
    logIndex: 42,
    logID: 'c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d',
  };
  const set = sign('sha256', Buffer.from(canonicalJson(payload)), rekorKey).toString('base64');
  return JSON.stringify({ SignedEntryTimestamp: set, Payload: payload });
}

/** A cosign attachment signed by `key` with the given extra annotations. */
export function signedAttachment(
  key: KeyObject,
  payload: Uint8Array,
  annotations: Record<string, string> = {},
): Signature {
  return {
    format: 'sigstore-json',
    mimeType: SIMPLE_SIGNING_MEDIA_TYPE,
    payload,
    annotations: { [ANNOTATION_SIGNATURE]: sign('sha256', payload, key).toString('base64'), ...annotations },
  };
}

export { ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE, ANNOTATION_CHAIN, ANNOTATION_SIGNATURE };

const IN_TOTO = 'application/vnd.in-toto+json';

/**
 * An in-toto statement whose subject is the manifest digest: cosign v3's signature by default, an
 * attestation with another predicate type.
 */
export function statement(
  digest: string,
  name: string,
  predicateType = 'https://sigstore.dev/cosign/sign/v1',
): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name, digest: { sha256: digest.slice('sha256:'.length) } }],
      predicateType,
      predicate: {},
    }),
  );
}

const pae = (type: string, body: Buffer) =>
  Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);

/** A one-signature DSSE envelope over an in-toto payload. */
export function dsse(key: KeyObject, payload: Buffer) {
  const sig = sign('sha256', pae(IN_TOTO, payload), key);
  return {
    envelope: {
      payload: payload.toString('base64'),
      payloadType: IN_TOTO,
      signatures: [{ sig: sig.toString('base64'), keyid: '' }],
    },
    sig,
  };
}

/** A v0.3 bundle: a DSSE statement for `digest` signed by `key`, no transparency log entry. */
export function keyBundle(key: KeyObject, digest: Digest, name: string): Buffer {
  return Buffer.from(sigstoreSignerFromKey(key).signBundle(digest, name).bundle);
}

/** A v0.3 bundle of an attestation: `predicateType` over `digest`, signed by `key`, as `cosign attest` makes. */
export function attestationBundle(key: KeyObject, digest: Digest, predicateType: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: '' }, tlogEntries: [] },
      dsseEnvelope: dsse(key, statement(digest, '', predicateType)).envelope,
    }),
  );
}
