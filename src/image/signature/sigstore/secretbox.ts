// NaCl secretbox (XSalsa20-Poly1305), which cosign's encrypted private keys use and node:crypto
// lacks. Only ever applied to a few hundred bytes of key material, so clarity beats speed here.
import { timingSafeEqual } from 'node:crypto';

const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];
export const SECRETBOX_KEY_BYTES = 32;
export const SECRETBOX_NONCE_BYTES = 24;
const TAG_BYTES = 16;

const rotl = (v: number, n: number): number => (v << n) | (v >>> (32 - n));

function salsaRounds(x: Uint32Array): void {
  for (let i = 0; i < 10; i++) {
    // Column round, then row round (Salsa20 quarter-rounds written out).
    x[4]! ^= rotl((x[0]! + x[12]!) | 0, 7);
    x[8]! ^= rotl((x[4]! + x[0]!) | 0, 9);
    x[12]! ^= rotl((x[8]! + x[4]!) | 0, 13);
    x[0]! ^= rotl((x[12]! + x[8]!) | 0, 18);
    x[9]! ^= rotl((x[5]! + x[1]!) | 0, 7);
    x[13]! ^= rotl((x[9]! + x[5]!) | 0, 9);
    x[1]! ^= rotl((x[13]! + x[9]!) | 0, 13);
    x[5]! ^= rotl((x[1]! + x[13]!) | 0, 18);
    x[14]! ^= rotl((x[10]! + x[6]!) | 0, 7);
    x[2]! ^= rotl((x[14]! + x[10]!) | 0, 9);
    x[6]! ^= rotl((x[2]! + x[14]!) | 0, 13);
    x[10]! ^= rotl((x[6]! + x[2]!) | 0, 18);
    x[3]! ^= rotl((x[15]! + x[11]!) | 0, 7);
    x[7]! ^= rotl((x[3]! + x[15]!) | 0, 9);
    x[11]! ^= rotl((x[7]! + x[3]!) | 0, 13);
    x[15]! ^= rotl((x[11]! + x[7]!) | 0, 18);
    x[1]! ^= rotl((x[0]! + x[3]!) | 0, 7);
    x[2]! ^= rotl((x[1]! + x[0]!) | 0, 9);
    x[3]! ^= rotl((x[2]! + x[1]!) | 0, 13);
    x[0]! ^= rotl((x[3]! + x[2]!) | 0, 18);
    x[6]! ^= rotl((x[5]! + x[4]!) | 0, 7);
    x[7]! ^= rotl((x[6]! + x[5]!) | 0, 9);
    x[4]! ^= rotl((x[7]! + x[6]!) | 0, 13);
    x[5]! ^= rotl((x[4]! + x[7]!) | 0, 18);
    x[11]! ^= rotl((x[10]! + x[9]!) | 0, 7);
    x[8]! ^= rotl((x[11]! + x[10]!) | 0, 9);
    x[9]! ^= rotl((x[8]! + x[11]!) | 0, 13);
    x[10]! ^= rotl((x[9]! + x[8]!) | 0, 18);
    x[12]! ^= rotl((x[15]! + x[14]!) | 0, 7);
    x[13]! ^= rotl((x[12]! + x[15]!) | 0, 9);
    x[14]! ^= rotl((x[13]! + x[12]!) | 0, 13);
    x[15]! ^= rotl((x[14]! + x[13]!) | 0, 18);
  }
}

function initialState(key: Uint8Array, input: Uint8Array): Uint32Array {
  const k = new DataView(key.buffer, key.byteOffset, 32);
  const n = new DataView(input.buffer, input.byteOffset, 16);
  const s = new Uint32Array(16);
  s[0] = SIGMA[0]!;
  s[5] = SIGMA[1]!;
  s[10] = SIGMA[2]!;
  s[15] = SIGMA[3]!;
  for (let i = 0; i < 4; i++) {
    s[1 + i] = k.getUint32(4 * i, true);
    s[11 + i] = k.getUint32(16 + 4 * i, true);
    s[6 + i] = n.getUint32(4 * i, true);
  }
  return s;
}

/** HSalsa20: derives XSalsa20's subkey from the key and the first 16 nonce bytes. */
function hsalsa20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  const x = initialState(key, nonce16);
  salsaRounds(x);
  const out = new Uint8Array(32);
  const view = new DataView(out.buffer);
  for (const [i, w] of [0, 5, 10, 15, 6, 7, 8, 9].entries()) view.setUint32(4 * i, x[w]!, true);
  return out;
}

/** XSalsa20 keystream XOR, starting at block 0. */
function xsalsa20Xor(key: Uint8Array, nonce: Uint8Array, data: Uint8Array): Uint8Array {
  const subkey = hsalsa20(key, nonce.subarray(0, 16));
  const input = new Uint8Array(16);
  input.set(nonce.subarray(16, 24));
  const out = new Uint8Array(data.length);
  const block = new Uint8Array(64);
  const blockView = new DataView(block.buffer);
  for (let off = 0, counter = 0; off < data.length; off += 64, counter++) {
    new DataView(input.buffer).setUint32(8, counter >>> 0, true);
    new DataView(input.buffer).setUint32(12, Math.floor(counter / 2 ** 32), true);
    const s = initialState(subkey, input);
    const x = s.slice();
    salsaRounds(x);
    for (let i = 0; i < 16; i++) blockView.setUint32(4 * i, (x[i]! + s[i]!) >>> 0, true);
    const n = Math.min(64, data.length - off);
    for (let i = 0; i < n; i++) out[off + i] = data[off + i]! ^ block[i]!;
  }
  return out;
}

const P1305 = (1n << 130n) - 5n;

function leBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

function poly1305(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const r = leBigInt(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = leBigInt(key.subarray(16, 32));
  let acc = 0n;
  for (let off = 0; off < msg.length; off += 16) {
    const chunk = msg.subarray(off, Math.min(off + 16, msg.length));
    acc = ((acc + leBigInt(chunk) + (1n << BigInt(8 * chunk.length))) * r) % P1305;
  }
  let tag = (acc + s) & ((1n << 128n) - 1n);
  const out = new Uint8Array(TAG_BYTES);
  for (let i = 0; i < TAG_BYTES; i++, tag >>= 8n) out[i] = Number(tag & 0xffn);
  return out;
}

function checkSizes(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== SECRETBOX_KEY_BYTES)
    throw new RangeError(`secretbox: expected a 32-byte key, got ${key.length}`);
  if (nonce.length !== SECRETBOX_NONCE_BYTES) {
    throw new RangeError(`secretbox: expected a 24-byte nonce, got ${nonce.length}`);
  }
}

/** secretbox.Seal: returns tag || ciphertext, as Go's x/crypto/nacl/secretbox does. */
export function secretboxSeal(plaintext: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  checkSizes(key, nonce);
  // The first 32 keystream bytes are the one-time Poly1305 key; the message uses the rest.
  const stream = xsalsa20Xor(key, nonce, new Uint8Array(32 + plaintext.length));
  const ciphertext = stream.subarray(32);
  for (let i = 0; i < plaintext.length; i++) ciphertext[i]! ^= plaintext[i]!;
  const out = new Uint8Array(TAG_BYTES + plaintext.length);
  out.set(poly1305(stream.subarray(0, 32), ciphertext));
  out.set(ciphertext, TAG_BYTES);
  return out;
}

/** secretbox.Open: the plaintext, or undefined when the box is not authentic under this key. */
export function secretboxOpen(box: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | undefined {
  checkSizes(key, nonce);
  if (box.length < TAG_BYTES) return undefined;
  const ciphertext = box.subarray(TAG_BYTES);
  const stream = xsalsa20Xor(key, nonce, new Uint8Array(32 + ciphertext.length));
  const expected = poly1305(stream.subarray(0, 32), ciphertext);
  if (!timingSafeEqual(expected, box.subarray(0, TAG_BYTES))) return undefined;
  const plaintext = stream.subarray(32);
  for (let i = 0; i < ciphertext.length; i++) plaintext[i]! ^= ciphertext[i]!;
  return plaintext;
}
