// The only module that imports openpgp: keyrings, verification of simple-signing blobs, signing.
//
// Verification accepts exactly one OpenPGP Signed Message in binary form: (compressed) one-pass
// signature + literal data + one signature, by a key of the trusted keyring (primary key or
// subkey; the identity reported is the primary key's uppercase fingerprint), not expired, not
// revoked at verification time. Deliberately stricter than upstream's gpgme backend: cleartext
// signed messages and ASCII-armored messages are rejected (containers-signature(5) says a
// signature MUST NOT be a cleartext signature; gpgme accepts one anyway), and blobs over
// MAX_SIGNATURE_BYTES are refused before parsing. openpgp.js's defaults also refuse what gpg
// still accepts: RSA keys under 2047 bits and SHA-1 signatures.
import { Buffer } from 'node:buffer';
import { constants, createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as OpenPGP from 'openpgp';
import { SignatureError } from '../errors.ts';
import { parseSignedMessage, type SignedMessage, TAG_SIGNATURE } from './packets.ts';

/** Simple signatures are well under 1 KiB; the cap also bounds what decompression can produce. */
export const MAX_SIGNATURE_BYTES = 64 * 1024;
/** Keyring files larger than this are refused (a keyring of hundreds of keys still fits). */
export const MAX_KEYRING_BYTES = 8 * 1024 * 1024;

const config = { ignoreUnsupportedPackets: true, ignoreMalformedPackets: false } as const;

// Loaded on first use: most policies (reject, insecureAcceptAnything, sigstore) never need it,
// and loading it is most of a CLI invocation's start-up time. Required rather than imported: the
// package's CommonJS entry is its minified build, a third of the bytes of its ESM entry to read
// and hash on every start.
let loaded: Promise<typeof OpenPGP> | undefined;
const require = createRequire(import.meta.url);
function pgp(): Promise<typeof OpenPGP> {
  loaded ??= Promise.resolve().then(() => require('openpgp') as typeof OpenPGP);
  return loaded;
}

/** Trusted public keys, parsed once. */
export interface GpgKeyring {
  /** Stable identity of the key material (sha256 of the inputs), for caches. */
  readonly id: string;
  /** Uppercase primary-key fingerprints, in input order. */
  readonly fingerprints: readonly string[];
  readonly keys: readonly OpenPGP.Key[];
}

export interface VerifiedBlob {
  /** The signed literal data (the untrusted payload until its contents are checked). */
  readonly payload: Uint8Array;
  /** Uppercase hex fingerprint of the primary key of the signing key. */
  readonly keyIdentity: string;
  /** Uppercase hex fingerprint of the key (primary or subkey) that made the signature. */
  readonly signingKeyFingerprint: string;
}

function invalid(detail: string, cause?: unknown): SignatureError {
  return new SignatureError(
    'SIGNATURE_INVALID',
    `Invalid GPG signature: ${detail}`,
    cause === undefined ? undefined : { cause },
  );
}

function isArmored(data: Uint8Array): boolean {
  const head = new TextDecoder().decode(data.subarray(0, 64)).trimStart();
  return head.startsWith('-----BEGIN PGP');
}

async function readKeyBlock(data: Uint8Array): Promise<OpenPGP.Key[]> {
  const openpgp = await pgp();
  if (!isArmored(data)) return openpgp.readKeys({ binaryKeys: data, config });
  const text = new TextDecoder().decode(data);
  const blocks = text.match(
    /-----BEGIN PGP (?:PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP (?:PUBLIC|PRIVATE) KEY BLOCK-----/g,
  );
  if (blocks === null) throw new Error('no armored key block found');
  const keys: OpenPGP.Key[] = [];
  for (const block of blocks) keys.push(...(await openpgp.readKeys({ armoredKeys: block, config })));
  return keys;
}

/**
 * Parses keyrings (each armored or binary, possibly several keys). An empty input list gives an
 * empty keyring; any unparseable input is KEY_INVALID (never silently skipped).
 */
export async function loadKeyring(inputs: readonly Uint8Array[]): Promise<GpgKeyring> {
  const hash = createHash('sha256');
  const keys: OpenPGP.Key[] = [];
  for (const [i, data] of inputs.entries()) {
    if (data.byteLength > MAX_KEYRING_BYTES) {
      throw new SignatureError(
        'SIGNATURE_TOO_LARGE',
        `keyring ${i}: expected at most ${MAX_KEYRING_BYTES} bytes, got ${data.byteLength}`,
      );
    }
    hash.update(`${data.byteLength}:`).update(data);
    if (data.byteLength === 0) continue;
    try {
      keys.push(...(await readKeyBlock(data)));
    } catch (err) {
      throw new SignatureError(
        'KEY_INVALID',
        `keyring ${i}: not an OpenPGP key or keyring: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
  return {
    id: hash.digest('hex'),
    fingerprints: keys.map((k) => k.getFingerprint().toUpperCase()),
    keys,
  };
}

/**
 * Verifies a simple-signing blob against `keyring` at time `now`; throws SignatureError
 * (SIGNATURE_INVALID / SIGNATURE_TOO_LARGE) otherwise. Does not look at the payload.
 */
export async function verifyBlob(
  blob: Uint8Array,
  keyring: GpgKeyring,
  now: Date = new Date(),
): Promise<VerifiedBlob> {
  const openpgp = await pgp();
  if (blob.byteLength > MAX_SIGNATURE_BYTES) {
    throw new SignatureError(
      'SIGNATURE_TOO_LARGE',
      `signature of ${blob.byteLength} bytes, at most ${MAX_SIGNATURE_BYTES} accepted`,
    );
  }
  if (blob.byteLength === 0) throw invalid('empty signature');
  if (isArmored(blob)) throw invalid('armored or cleartext-signed messages are not accepted');
  const signed = parseSignedMessage(blob);
  // openpgp.js no longer reads V3 signature packets, which gpg made for years; verify those here.
  if (signed.signature[0] === 3) return verifyV3(signed, keyring, now);
  let result: OpenPGP.VerifyMessageResult<Uint8Array>;
  try {
    // parseSignedMessage has checked the grammar: one literal data packet, one signature. What the
    // signature covers is the literal data's content (RFC 4880 §5.2.4), so it is checked over that,
    // as a detached signature: the same verification without openpgp's streaming message reader,
    // whose web-streams set-up was ~10 ms of a CLI run.
    const [signature, message] = await Promise.all([
      openpgp.readSignature({ binarySignature: signaturePacket(signed.signature), config }),
      openpgp.createMessage({ binary: signed.data }),
    ]);
    result = await openpgp.verify({
      message,
      signature,
      verificationKeys: [...keyring.keys],
      format: 'binary',
      date: now,
      expectSigned: false,
      config,
    });
  } catch (err) {
    throw invalid((err as Error).message, err);
  }
  const [sig] = result.signatures;
  if (sig === undefined || result.signatures.length !== 1) {
    throw new SignatureError(
      'SIGNATURE_INVALID',
      `Unexpected GPG signature count ${result.signatures.length}`,
    );
  }
  const keyId = sig.keyID.toHex().toUpperCase();
  try {
    await sig.verified;
  } catch (err) {
    const reason = (err as Error).message;
    if (/could not find signing key/i.test(reason)) {
      throw invalid(`missing key ${keyId}: the signing key is not in the trusted keyring`, err);
    }
    throw invalid(`signature by key ${keyId}: ${reason}`, err);
  }
  return identify(keyring, sig.keyID, signed.data);
}

/** A signature packet (new format, tag 2) around `body`, with a five-octet length. */
function signaturePacket(body: Uint8Array): Uint8Array {
  const header = Buffer.alloc(6);
  header[0] = 0xc0 | TAG_SIGNATURE;
  header[1] = 0xff;
  header.writeUInt32BE(body.byteLength, 2);
  return Buffer.concat([header, body]);
}

function identify(keyring: GpgKeyring, keyID: OpenPGP.KeyID, payload: Uint8Array): VerifiedBlob {
  for (const key of keyring.keys) {
    const [signing] = key.getKeys(keyID);
    if (signing !== undefined) {
      return {
        payload,
        keyIdentity: key.getFingerprint().toUpperCase(),
        signingKeyFingerprint: signing.getFingerprint().toUpperCase(),
      };
    }
  }
  throw invalid(`missing key ${keyID.toHex().toUpperCase()}: the signing key is not in the trusted keyring`);
}

const v3Hashes: Readonly<Record<number, string>> = { 8: 'sha256', 9: 'sha384', 10: 'sha512', 11: 'sha224' };

/** RFC 4880 §5.2.2 version 3 signature of a binary document, RSA keys only. */
async function verifyV3(signed: SignedMessage, keyring: GpgKeyring, now: Date): Promise<VerifiedBlob> {
  const openpgp = await pgp();
  const sig = signed.signature;
  if (sig.byteLength < 21 || sig[1] !== 5) throw invalid('malformed version 3 signature packet');
  if (sig[2] !== 0) throw invalid(`unsupported version 3 signature type ${String(sig[2])}`);
  const keyIdHex = Buffer.from(sig.subarray(7, 15)).toString('hex');
  const hash = v3Hashes[sig[16] ?? 0];
  if (sig[15] !== 1 && sig[15] !== 3)
    throw invalid(`unsupported version 3 public key algorithm ${String(sig[15])}`);
  if (hash === undefined) throw invalid(`unsupported version 3 hash algorithm ${String(sig[16])}`);
  const bits = ((sig[19] ?? 0) << 8) | (sig[20] ?? 0);
  const value = sig.subarray(21);
  if (value.byteLength !== Math.ceil(bits / 8)) throw invalid('malformed version 3 signature value');
  const keyID = keyring.keys
    .flatMap((k) => k.getKeys().map((sub) => sub.getKeyID()))
    .find((id) => id.toHex() === keyIdHex);
  const key = keyID === undefined ? undefined : keyring.keys.find((k) => k.getKeys(keyID).length > 0);
  if (key === undefined || keyID === undefined) {
    throw invalid(`missing key ${keyIdHex.toUpperCase()}: the signing key is not in the trusted keyring`);
  }
  let signing: OpenPGP.Key | OpenPGP.Subkey;
  try {
    signing = await key.getSigningKey(keyID, now, undefined, { ...openpgp.config, ...config });
  } catch (err) {
    throw invalid(`signature by key ${keyIdHex.toUpperCase()}: ${(err as Error).message}`, err);
  }
  const params = signing.keyPacket.publicParams as { n?: Uint8Array; e?: Uint8Array };
  if (params.n === undefined || params.e === undefined) throw invalid('version 3 signature by a non-RSA key');
  const publicKey = createPublicKey({
    key: {
      kty: 'RSA',
      n: Buffer.from(params.n).toString('base64url'),
      e: Buffer.from(params.e).toString('base64url'),
    },
    format: 'jwk',
  });
  const padded = Buffer.alloc(params.n.byteLength);
  if (value.byteLength > padded.byteLength) throw invalid('malformed version 3 signature value');
  padded.set(value, padded.byteLength - value.byteLength);
  const trailer = sig.subarray(2, 7); // signature type and creation time
  const ok = cryptoVerify(
    hash,
    Buffer.concat([signed.data, trailer]),
    { key: publicKey, padding: constants.RSA_PKCS1_PADDING },
    padded,
  );
  if (!ok) throw invalid(`signature by key ${keyIdHex.toUpperCase()}: signature verification failed`);
  return identify(keyring, keyID, signed.data);
}

/** Secret keys, parsed; use `signBlob` with one of them. */
export interface GpgSecretKeyring {
  /** Uppercase primary fingerprints. */
  readonly fingerprints: readonly string[];
  readonly keys: readonly OpenPGP.PrivateKey[];
}

export async function loadSecretKeyring(data: Uint8Array): Promise<GpgSecretKeyring> {
  const openpgp = await pgp();
  if (data.byteLength > MAX_KEYRING_BYTES) {
    throw new SignatureError(
      'SIGNATURE_TOO_LARGE',
      `secret keyring: expected at most ${MAX_KEYRING_BYTES} bytes, got ${data.byteLength}`,
    );
  }
  let keys: OpenPGP.PrivateKey[];
  try {
    keys = isArmored(data)
      ? await openpgp.readPrivateKeys({ armoredKeys: new TextDecoder().decode(data), config })
      : await openpgp.readPrivateKeys({ binaryKeys: data, config });
  } catch (err) {
    throw new SignatureError('KEY_INVALID', `not an OpenPGP secret key: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { fingerprints: keys.map((k) => k.getFingerprint().toUpperCase()), keys };
}

/**
 * Signs `payload` as a binary Signed Message (one-pass signature, literal data, signature), the
 * structure gpg produces for skopeo, with the key whose primary fingerprint (or a subkey's) is
 * `fingerprint`.
 */
export async function signBlob(
  payload: Uint8Array,
  secretKeys: GpgSecretKeyring,
  fingerprint: string,
  passphrase: string | undefined,
): Promise<Uint8Array> {
  const openpgp = await pgp();
  const want = fingerprint.toUpperCase().replace(/^0X/, '');
  const key = secretKeys.keys.find(
    (k) =>
      k.getFingerprint().toUpperCase() === want ||
      k
        .getKeys()
        .some(
          (s) => s.getFingerprint().toUpperCase() === want || s.getKeyID().toHex().toUpperCase() === want,
        ),
  );
  if (key === undefined)
    throw new SignatureError('KEY_NOT_FOUND', `signing key ${want} not found in the secret keyring`);
  let unlocked: OpenPGP.PrivateKey = key;
  if (!key.isDecrypted()) {
    if (passphrase === undefined)
      throw new SignatureError(
        'SIGNING_FAILED',
        `signing key ${want} is protected: a passphrase is required`,
      );
    try {
      unlocked = await openpgp.decryptKey({ privateKey: key, passphrase });
    } catch (err) {
      throw new SignatureError('SIGNING_FAILED', `unlocking signing key ${want}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  try {
    const message = await openpgp.createMessage({ binary: payload, format: 'binary' });
    return await openpgp.sign({ message, signingKeys: unlocked, format: 'binary', config });
  } catch (err) {
    throw new SignatureError('SIGNING_FAILED', `signing with key ${want}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
