// cosign's encrypted private key files: PKCS#8 DER sealed with NaCl secretbox under a scrypt key,
// in go-securesystemslib's "encrypted" JSON, in an "ENCRYPTED SIGSTORE PRIVATE KEY" PEM block.
import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes, scrypt } from 'node:crypto';
import { SigstoreError } from './errors.ts';
import { decodeStdBase64, expectExactKeys, isJsonObject, type JsonObject, parseStrictJson } from './json.ts';
import { checkKeyType } from './keys.ts';
import { SECRETBOX_KEY_BYTES, SECRETBOX_NONCE_BYTES, secretboxOpen, secretboxSeal } from './secretbox.ts';
import { pemOf } from './x509.ts';

export const SIGSTORE_PRIVATE_KEY_PEM_TYPE = 'ENCRYPTED SIGSTORE PRIVATE KEY';
export const COSIGN_PRIVATE_KEY_PEM_TYPE = 'ENCRYPTED COSIGN PRIVATE KEY';
const SALT_BYTES = 32;
const MAX_KEY_FILE = 64 << 10;
// go-securesystemslib accepts exactly these (legacy, standard, OWASP); anything else could be a
// denial of service planted in a key file. New keys use "standard", as cosign 2.x does.
const ALLOWED_SCRYPT = [
  { N: 32768, r: 8, p: 1 },
  { N: 65536, r: 8, p: 1 },
  { N: 131072, r: 8, p: 1 },
] as const;
const NEW_KEY_SCRYPT = ALLOWED_SCRYPT[1];

function invalid(detail: string, cause?: unknown): SigstoreError {
  return new SigstoreError('SIGSTORE_PRIVATE_KEY_INVALID', `reading sigstore private key: ${detail}`, {
    cause,
  });
}

function deriveKey(
  passphrase: Uint8Array,
  salt: Uint8Array,
  params: { N: number; r: number; p: number },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase,
      salt,
      SECRETBOX_KEY_BYTES,
      { ...params, maxmem: 256 * params.N * params.r },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

export interface KeyPairFiles {
  /** The PEM text cosign writes to cosign.key. */
  readonly privateKeyPem: string;
  /** The PEM text cosign writes to cosign.pub. */
  readonly publicKeyPem: string;
}

/** Seals a private key as cosign does. */
export async function encryptPrivateKey(key: KeyObject, passphrase: Uint8Array): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(SECRETBOX_NONCE_BYTES);
  const secret = await deriveKey(passphrase, salt, NEW_KEY_SCRYPT);
  const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
  const doc = {
    kdf: {
      name: 'scrypt',
      params: { N: NEW_KEY_SCRYPT.N, r: NEW_KEY_SCRYPT.r, p: NEW_KEY_SCRYPT.p },
      salt: salt.toString('base64'),
    },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(secretboxSeal(pkcs8, nonce, secret)).toString('base64'),
  };
  return pemOf(Buffer.from(JSON.stringify(doc)), SIGSTORE_PRIVATE_KEY_PEM_TYPE);
}

/** A new ECDSA P-256 key pair in cosign's file formats (what `cosign generate-key-pair` writes). */
export async function generateSigstoreKeyPair(passphrase: Uint8Array): Promise<KeyPairFiles> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKeyPem: await encryptPrivateKey(privateKey, passphrase),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

function field(obj: JsonObject, key: string, what: string): JsonObject {
  const v = obj[key];
  if (!isJsonObject(v)) throw invalid(`${what}: expected an object`);
  return v;
}

function bytesField(obj: JsonObject, key: string, what: string): Buffer {
  const v = obj[key];
  const bytes = typeof v === 'string' ? decodeStdBase64(v) : undefined;
  if (bytes === undefined) throw invalid(`${what}: expected base64 text`);
  return bytes;
}

/** Opens a cosign private key (either PEM type cosign writes); wrong passphrase is its own code. */
export async function decryptPrivateKey(pem: string, passphrase: Uint8Array): Promise<KeyObject> {
  if (pem.length > MAX_KEY_FILE) throw invalid(`larger than ${MAX_KEY_FILE} bytes`);
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(pem);
  if (m === null) throw invalid('no pem block found');
  if (m[1] !== SIGSTORE_PRIVATE_KEY_PEM_TYPE && m[1] !== COSIGN_PRIVATE_KEY_PEM_TYPE) {
    throw invalid(`unsupported pem type ${m[1]}`);
  }
  let doc: JsonObject;
  try {
    const parsed = parseStrictJson(Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64'));
    if (!isJsonObject(parsed)) throw invalid('expected a json object');
    doc = parsed;
    expectExactKeys(doc, ['kdf', 'cipher', 'ciphertext'], 'encrypted key');
  } catch (err) {
    if (err instanceof SigstoreError && err.code === 'SIGSTORE_PRIVATE_KEY_INVALID') throw err;
    throw invalid(err instanceof Error ? err.message : String(err), err);
  }
  const kdf = field(doc, 'kdf', 'kdf');
  const cipher = field(doc, 'cipher', 'cipher');
  if (kdf.name !== 'scrypt') throw invalid(`unknown kdf name ${JSON.stringify(kdf.name)}`);
  if (cipher.name !== 'nacl/secretbox') throw invalid(`unknown cipher name ${JSON.stringify(cipher.name)}`);
  const params = field(kdf, 'params', 'kdf.params');
  const allowed = ALLOWED_SCRYPT.find((a) => a.N === params.N && a.r === params.r && a.p === params.p);
  if (allowed === undefined) throw invalid('unsupported scrypt parameters');
  const nonce = bytesField(cipher, 'nonce', 'cipher.nonce');
  if (nonce.length !== SECRETBOX_NONCE_BYTES) throw invalid('incorrect nonce size');
  const secret = await deriveKey(passphrase, bytesField(kdf, 'salt', 'kdf.salt'), allowed);
  const pkcs8 = secretboxOpen(bytesField(doc, 'ciphertext', 'ciphertext'), nonce, secret);
  if (pkcs8 === undefined) {
    throw new SigstoreError(
      'SIGSTORE_PASSPHRASE_WRONG',
      'reading sigstore private key: decryption failed (wrong passphrase?)',
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw invalid('parsing pkcs#8 private key', err);
  }
  try {
    checkKeyType(key, 'private key');
  } catch (err) {
    throw invalid((err as Error).message, err);
  }
  return key;
}
